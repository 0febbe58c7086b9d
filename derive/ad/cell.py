"""The symbolic cell: what a spec means, as frozen data.

Every vector quantity of one time step is a SymPy ``Symbol`` standing for one unit (one element)
of that vector, so each equation is scalar algebra. A linear map ``A @ v`` mixes units; it appears
in equations as an opaque symbol (``LinearMap.symbol``) whose adjoint follows one generic rule.
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy


@dataclass(frozen=True)
class Param:
    name: str
    shape: tuple[str, ...]  # dimension names: ("D", "M") a matrix, ("D",) a vector
    init: float | None = None  # constant initial value, or None for the random default

    @property
    def is_matrix(self) -> bool:
        return len(self.shape) == 2


@dataclass(frozen=True)
class LinearMap:
    """``symbol = matrix @ operand``, per unit of the result."""

    symbol: sympy.Symbol
    matrix: str
    operand: str


@dataclass(frozen=True)
class Equation:
    target: str
    expr: sympy.Expr  # over unit symbols and linear-map symbols
    text: str  # as the user wrote it (for comments and docs); "" for introduced equations
    line: int  # line in the spec file, 0 for introduced equations
    display: sympy.Expr | None = None  # the same, unevaluated: terms in the order written


@dataclass(frozen=True)
class Cell:
    name: str
    title: str
    source: str
    path: str
    spec_hash: str  # sha256 of the spec file's bytes
    sizes: tuple[tuple[str, str], ...]  # (dimension, init_params keyword), in order
    input: tuple[str, str]  # (name, dimension)
    state: tuple[tuple[str, str], ...]  # (name, dimension)
    output: str
    params: tuple[Param, ...]
    equations: tuple[Equation, ...]
    linear_maps: tuple[LinearMap, ...]
    dims: tuple[tuple[str, str], ...]  # every vector name (incl. <s>_prev) -> its dimension
    base: str = ""  # the cell this one is a variant of (the variants page compares with it)

    def dim_of(self, name: str) -> str:
        return dict(self.dims)[name]

    def param(self, name: str) -> Param:
        return {p.name: p for p in self.params}[name]

    @property
    def state_names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.state)


def prev_name(state: str) -> str:
    """The name equations use for a state's value at the previous step."""
    return f"{state}_prev"
