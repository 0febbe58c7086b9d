"""The backward's layout, settled before any statement is made: names, where each adjoint is
written, which coefficients are computed per block of steps, and the families of adjoints one
broadcast multiply computes.

Coefficients print three ways: a number or parameters stay in the loop, a kept value is read per
step, anything else is computed for the block before its steps.
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy

from derive.ad.adjoint import Derivation
from derive.ad.blocks import block_of
from derive.naming import ADJOINT_PREFIX
from derive.targets import ir
from derive.targets.ir import Ref, Span
from derive.targets.lower.forward import _dim
from derive.targets.lower.names import T, Names
from derive.targets.plan import Part, Plan, StepAdjoint


@dataclass(frozen=True)
class Family:
    """Adjoints on adjacent rows of one buffer, one source times each one's coefficient."""

    members: tuple[StepAdjoint, ...]
    source: str
    coefficients: tuple[str, ...]  # each member's coefficient array (a block of steps)
    stacked: str  # those, stacked along a new axis 2
    view: str  # the members' rows of the buffer, (T, B, n, size)
    width: sympy.Expr


class BackwardLayout:
    def __init__(self, derivation: Derivation, plan: Plan):
        self.derivation, self.cell, self.plan = derivation, derivation.cell, plan
        self.names = names = Names(derivation)
        self.x = self.cell.input[0]
        self.seq = {self.x: "xs", **{n: names.fresh(f"seq_{n}") for n in plan.kept}}
        computed = {s.name for s in plan.steps}
        self.slot_views: dict[str, list] = {}  # adjoint -> [(buffer, start, stop)], first first
        for g in plan.groups:
            for slot in g.slots:
                place = (g.buffer, slot.start, slot.stop)
                if place not in self.slot_views.setdefault(slot.adjoint, []):
                    self.slot_views[slot.adjoint].append(place)
        self.adjoint_seq = {name: names.fresh(f"seq_{name}") for name in self.slot_views
                            if name in computed}
        self.coefficients: dict[sympy.Expr, tuple[str, str]] = {}  # expr -> (name, comment)
        self.block, self.start, self.stop, self.k = (
            names.fresh(n) for n in ("block", "start", "stop", "k"))
        self.blocked = any(_precomputed(part.coefficient, self.seq)
                           for s in plan.steps for part in s.parts)
        self.in_block: set[str] = set()  # kept values a block reads, bound to its slice
        self.per_step_sums = {t: parts for t, parts in plan.sums.items()
                              if not all(part.source in self.adjoint_seq for part in parts)}
        self.later_sources = {part.source for s in plan.steps for part in s.parts}
        self.later_sources |= {part.source for parts in self.per_step_sums.values()
                               for part in parts}
        # adjoints whose (T, B, size) view something reads: after the loop, the sums over it
        # (a bias, one part times 1, reads the buffer's column sums instead)
        self.viewed = {part.source for target, parts in plan.sums.items()
                       if target not in self.per_step_sums
                       and (target == self.x or bias_source(parts) is None) for part in parts}
        self.arriving = {s.name: names.fresh(f"{s.name}_arriving") for s in plan.steps
                         if s.seeded and s.target == self.cell.output and s.name in self.adjoint_seq}
        self.families = self._families()
        self._register_all()

    def rows(self, start, stop) -> Span:
        return Span(self.names.size(start), self.names.size(stop))

    # -- what each part of an adjoint reads --------------------------------------------------------

    def _register_all(self) -> None:
        """Every coefficient's name, in the order the loop reads them (deterministic names)."""
        family_of = {m.name: f for f in self.families for m in f.members}
        for step in self.plan.steps:
            if step.name in family_of:
                continue
            for part in step.parts:
                self.product(part, step.target)
        for target, parts in self.per_step_sums.items():
            for part in parts:
                self.product(part, target)
        self.viewed.update(m.name for f in self.families for m in f.members
                           if m.name in self.later_sources)
        self.viewed.update(s.name for s in self.plan.steps
                           if s.name in self.adjoint_seq and s.name not in family_of)

    def product(self, part: Part, target: str) -> tuple[sympy.Expr, list]:
        """``part`` as one product at step t of the loop, and the places of its symbols."""
        number, rest = part.coefficient.as_coeff_Mul()
        source = sympy.Symbol(part.source)
        head = source if number == 1 else sympy.Mul(number, source, evaluate=False)
        if rest == 1:
            return head, []
        k = sympy.Symbol(self.k)
        if isinstance(rest, sympy.Symbol) and rest.name in self.seq:
            if self.blocked:
                self.in_block.add(rest.name)
                return sympy.Mul(head, rest, evaluate=False), [(rest.name, Ref(rest.name)[k])]
            return sympy.Mul(head, rest, evaluate=False), [(rest.name, Ref(self.seq[rest.name])[T])]
        if not {symbol.name for symbol in rest.free_symbols} & set(self.seq):
            return sympy.Mul(head, rest, evaluate=False), []  # parameters and numbers only
        name = self.coefficient(rest, part.source, target)
        return sympy.Mul(head, sympy.Symbol(name), evaluate=False), [(name, Ref(name)[k])]

    def sum_of(self, parts, target: str):
        terms, places = [], []
        for part in parts:
            term, more = self.product(part, target)
            terms.append(term)
            places += more
        return sympy.Add(*terms, evaluate=False), tuple(places)

    def coefficient(self, expr: sympy.Expr, source: str, target: str) -> str:
        """The name of the block array holding ``expr``, ∂source/∂target."""
        if expr not in self.coefficients:
            self.in_block.update(s.name for s in expr.free_symbols if s.name in self.seq)
            base = source[len(ADJOINT_PREFIX):]
            self.coefficients[expr] = (self.names.fresh(f"seq_d{base}_d{target}"),
                                       f"∂{base}/∂{target}")
        return self.coefficients[expr][0]

    def coefficient_nodes(self) -> list[ir.Node]:
        """The coefficients over a block of steps, subexpressions they share computed once; the
        kept values they read are bound to the block's slices under their own names."""
        shared, reduced = sympy.cse(list(self.coefficients),
                                    symbols=sympy.numbered_symbols("_shared"), order="none")
        substitutions, nodes = {}, []
        for symbol, expr in shared:
            expr = expr.xreplace(substitutions)
            block = block_of(expr)
            base = (f"seq_{block.name}_{expr.args[0]}" if block is not None
                    and isinstance(expr.args[0], sympy.Symbol) else "seq_shared")
            name = self.names.fresh(base)
            nodes.append(ir.Elementwise(Ref(name), expr))
            substitutions[symbol] = sympy.Symbol(name)
        for (name, comment), expr in zip(self.coefficients.values(), reduced):
            nodes += [ir.Comment(comment), ir.Elementwise(Ref(name), expr.xreplace(substitutions))]
        return nodes

    # -- families ---------------------------------------------------------------------------------

    def _families(self) -> tuple[Family, ...]:
        """Adjoints on adjacent rows of one buffer, all of one width, each the same source adjoint
        times its own precomputed coefficient: one broadcast multiply computes them all."""
        if not self.blocked:
            return ()
        plan = self.plan
        row_dims = {p.name: p.shape[0] for p in self.cell.params}
        rows = {}  # adjoint -> (buffer, position in its group, width)
        for g in plan.groups:
            for position, slot in enumerate(g.slots):
                rows.setdefault(slot.adjoint, (g.buffer, position, row_dims[slot.matrix]))
        members = [step for step in plan.steps
                   if not step.seeded and step.matmul is None and len(step.parts) == 1
                   and len(self.slot_views.get(step.name, ())) == 1 and step.name in rows
                   and step.parts[0].coefficient.as_coeff_Mul()[0] == 1
                   and _precomputed(step.parts[0].coefficient, self.seq)]
        members.sort(key=lambda step: rows[step.name][:2])
        runs: list[list[StepAdjoint]] = []
        for step in members:
            last = runs[-1][-1] if runs else None
            buffer, position, width = rows[step.name]
            if (last and rows[last.name] == (buffer, position - 1, width)
                    and last.parts[0].source == step.parts[0].source):
                runs[-1].append(step)
            else:
                runs.append([step])
        families = []
        order = {s.name: k for k, s in enumerate(plan.steps)}
        for run in sorted((r for r in runs if len(r) > 1), key=lambda r: order[r[0].name]):
            source = run[0].parts[0].source
            names = tuple(self.coefficient(m.parts[0].coefficient, source, m.target) for m in run)
            stacked = self.names.fresh(f"seq_d{source[len(ADJOINT_PREFIX):]}_d"
                                       + "_".join(m.target for m in run))
            view = self.names.fresh("seq_" + "_".join(m.name for m in run))
            width = self.names.dim(_dim(self.derivation, run[0].target))
            families.append(Family(tuple(run), source, names, stacked, view, width))
        return tuple(families)


def _precomputed(coefficient: sympy.Expr, seq: dict) -> bool:
    """A coefficient computed before the step: one that is more than a number, a parameter or
    a kept value read as it is."""
    rest = coefficient.as_coeff_Mul()[1]
    return not isinstance(rest, sympy.Symbol) and any(s.name in seq for s in rest.free_symbols)


def bias_source(parts) -> str | None:
    """The one adjoint a bias-like gradient sums unchanged (one part, coefficient 1), or None."""
    return parts[0].source if len(parts) == 1 and parts[0].coefficient == 1 else None
