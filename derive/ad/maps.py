"""Target-neutral facts about a derivation that every printer needs: the names a printer may
meet, and the linear maps grouped by the operand they share (the article's stacked form)."""

from __future__ import annotations

from dataclasses import dataclass

from derive.ad.adjoint import Derivation
from derive.naming import adjoint_name


def known_names(derivation: Derivation) -> frozenset[str]:
    """Every name an expression of the derivation may hold: sizes, parameters, forward values
    and their adjoints."""
    cell = derivation.cell
    names = {name for name, _ in cell.dims} | {p.name for p in cell.params}
    names |= {s.target for s in derivation.forward}
    names |= {adjoint_name(n) for n in names}
    return frozenset(names)


@dataclass(frozen=True)
class MapRow:
    """``symbol = matrix @ operand``; ``adjoint``: the variable holding its adjoint (aliased)."""

    symbol: str
    matrix: str
    adjoint: str


@dataclass(frozen=True)
class MapGroup:
    """The linear maps that share ``operand``, in the order they were written."""

    operand: str
    rows: tuple[MapRow, ...]

    @property
    def adjoints(self) -> tuple[str, ...]:
        return tuple(r.adjoint for r in self.rows)


def map_groups(derivation: Derivation) -> tuple[MapGroup, ...]:
    aliases = dict(derivation.aliases)
    by_operand: dict[str, list[MapRow]] = {}
    for s in derivation.forward:
        if s.is_linear_map:
            d = adjoint_name(s.target)
            by_operand.setdefault(s.operand, []).append(MapRow(s.target, s.matrix,
                                                               aliases.get(d, d)))
    return tuple(MapGroup(operand, tuple(rows)) for operand, rows in by_operand.items())


def stacks(derivation: Derivation) -> tuple[tuple[MapGroup, ...], ...]:
    """Groups whose maps feed the same sums (row by row the same adjoints) side by side: each
    stack is one matrix product ``[W U] [x; h]`` in the article's stacked form."""
    out: dict[tuple[str, ...], list[MapGroup]] = {}
    for group in map_groups(derivation):
        out.setdefault(group.adjoints, []).append(group)
    return tuple(tuple(groups) for groups in out.values())
