"""Names the lowering chooses: never equal to a cell's name, to a bound name, or to each other."""

from __future__ import annotations

import sympy

from derive.ad.adjoint import Derivation
from derive.naming import adjoint_name, fresh_name
from derive.targets.bound import BOUND_NAMES

STEPS, BATCH, T = sympy.Symbol("steps"), sympy.Symbol("batch"), sympy.Symbol("t")


class Names:
    """Fresh names for one generated function, and the local each size is read into (a size named
    like one of the cell's values, e.g. an equation ``D = ...``, is read into a fresh name)."""

    def __init__(self, derivation: Derivation):
        cell = derivation.cell
        values = {n for n, _ in cell.dims} | {p.name for p in cell.params}
        values |= {s.target for s in derivation.forward} | {cell.input[0]}
        values |= {adjoint_name(n) for n in set(values)}
        self.taken = set(BOUND_NAMES) | values
        self.dims: dict[str, str] = {}
        for dim, _ in cell.sizes:
            self.dims[dim] = self.fresh(dim) if dim in values else dim
            self.taken.add(self.dims[dim])

    def fresh(self, name: str) -> str:
        name = fresh_name(name, self.taken)
        self.taken.add(name)
        return name

    def size(self, expr) -> sympy.Expr:
        """A size over dimension symbols, in terms of the locals the sizes are read into."""
        expr = sympy.sympify(expr) if not isinstance(expr, str) else sympy.Symbol(expr)
        return expr.xreplace({sympy.Symbol(d): sympy.Symbol(n) for d, n in self.dims.items()})

    def dim(self, dim: str) -> sympy.Symbol:
        return sympy.Symbol(self.dims.get(dim, dim))
