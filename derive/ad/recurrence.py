"""Backpropagation through time in t+1 form, and the path that carries the error across steps.

The step adjoints (``adjoint.derive``) say what one step does: ``δs_t`` arrives from the step
after, and the step computes ``δs_{t-1}``. Written out over time, as Greff et al.'s appendix
does, the arriving adjoint is the step's own ``δs_{t-1}`` equation shifted one step later:

    δc_t = δh_t ⊙ o_t ⊙ (1 − tanh² c_t) + f_{t+1} ⊙ δc_{t+1}

``recurrences`` builds these by substitution, nothing typed in: each forward value and adjoint
of the shifted equation moves to step t+1 (``f`` becomes ``f__next``), and a previous state at
step t+1 is the state at t (``c_prev`` becomes ``c``). ``check_recurrences`` confirms each one
equal to SymPy's derivative of a two-step unrolled loss (``unroll``).

``carriers`` reads, for each state, the direct elementwise factor ``∂s_t/∂s_{t-1}`` of the
derivation (the term of ``δs_{t-1}`` that is ``δs_t`` times a partial, through no matrix): the
path on which the error crosses steps without being mixed by a weight matrix.
"""

from __future__ import annotations

import random
import dataclasses
from dataclasses import dataclass

import sympy

from derive.ad.adjoint import Adjoint, Derivation, ElementwiseTerm, Term
from derive.ad.blocks import block_of
from derive.ad.cell import Cell, prev_name
from derive.ad.checks import UncheckedStep
from derive.ad import unroll
from derive.naming import ADJOINT_PREFIX, NEXT_SUFFIX, adjoint_name


@dataclass(frozen=True)
class Recurrence:
    """``δs_t = [∂L/∂y_t] + local terms (within step t) + arriving terms (from step t+1)``."""

    state: str
    output: bool  # the loss's ∂L/∂y_t is added: the state is the cell's output
    local: tuple[Term, ...]
    arriving: tuple[Term, ...]


@dataclass(frozen=True)
class Carrier:
    """``s_{t-1}`` receives ``δs_t ⊙ gain`` directly: no matrix, no other adjoint."""

    state: str
    gain: sympy.Expr  # ∂s_t/∂s_{t-1} on that path, over the step's forward names
    defined_by: str  # the forward value the gain is (a gate's name), or "" when it is a number


def shift(cell: Cell, name: str) -> str:
    """A step-t name as the same quantity one step later; parameters stay."""
    if name in {p.name for p in cell.params}:
        return name
    if name.startswith(ADJOINT_PREFIX):
        return adjoint_name(shift(cell, name[len(ADJOINT_PREFIX):]))
    for s in cell.state_names:
        if name == prev_name(s):
            return s  # the previous state at step t+1 is the state at t
    return name + NEXT_SUFFIX


def _shift_term(cell: Cell, term: Term) -> Term:
    def moved(expr):
        return expr.xreplace({s: sympy.Symbol(shift(cell, s.name)) for s in expr.free_symbols})
    if isinstance(term, ElementwiseTerm):
        return ElementwiseTerm(moved(term.adjoint), moved(term.partial))
    return dataclasses.replace(term, adjoint=moved(term.adjoint))


def recurrences(derivation: Derivation) -> tuple[Recurrence, ...]:
    cell = derivation.cell
    by_target: dict[str, Adjoint] = {a.target: a for a in derivation.backward}
    out = []
    for s in cell.state_names:
        own = by_target.get(s)
        arriving = by_target[prev_name(s)].terms
        out.append(Recurrence(s, s == cell.output, own.terms if own else (),
                              tuple(_shift_term(cell, t) for t in arriving)))
    return tuple(out)


def shifted_names(derivation: Derivation) -> frozenset[str]:
    """Every name a recurrence may print (for the LaTeX printer's list of known names)."""
    names = set()
    for r in recurrences(derivation):
        for term in r.arriving:
            if isinstance(term, ElementwiseTerm):
                names |= {str(s) for s in (term.adjoint * term.partial).free_symbols}
            names.add(str(term.adjoint))
    return frozenset(names)


def carriers(derivation: Derivation) -> tuple[Carrier, ...]:
    """For each state, the direct elementwise path from ``s_t`` to ``s_{t-1}``, if it has one."""
    cell = derivation.cell
    by_target = {a.target: a for a in derivation.backward}
    values = {st.target for st in derivation.forward}
    found = []
    for s in cell.state_names:
        own = sympy.Symbol(adjoint_name(s))
        for term in by_target[prev_name(s)].terms:
            if isinstance(term, ElementwiseTerm) and term.adjoint == own:
                name = str(term.partial) if isinstance(term.partial, sympy.Symbol) else ""
                found.append(Carrier(s, term.partial, name if name in values else ""))
    return tuple(found)


# -- confirmation by SymPy ------------------------------------------------------------------------


def check_recurrences(derivation: Derivation) -> tuple[Recurrence, ...]:
    """Each recurrence, confirmed equal to SymPy's dL/ds_1 of the cell unrolled over two steps
    (M = D = 1, every quantity a symbol); raises ``UncheckedStep`` otherwise."""
    cell = derivation.cell
    point = unroll.symbolic_point(derivation, 2)
    values, definitions = unroll.named_run(derivation, point)
    definitions = {k: v for k, v in definitions.items() if block_of(v) is not None}
    cache: dict[tuple[int, str], sympy.Expr] = {}

    def adjoint_at(step: int, name: str) -> sympy.Expr:
        if (step, name) not in cache:
            cache[step, name] = unroll.total_derivative(derivation, point, step, name, values)
        return cache[step, name]

    def value_of(symbol: sympy.Symbol) -> sympy.Expr:
        name, step = symbol.name, 1
        if name.endswith(NEXT_SUFFIX):
            name, step = name[: -len(NEXT_SUFFIX)], 2
        if name.startswith(ADJOINT_PREFIX):
            return adjoint_at(step, name[len(ADJOINT_PREFIX):])
        return values[step - 1][name]

    found = recurrences(derivation)
    for r in found:
        rhs = point.wy[0] if r.output else sympy.Integer(0)
        for term in (*r.local, *r.arriving):
            if isinstance(term, ElementwiseTerm):
                expr = term.adjoint * term.partial
                rhs += expr.xreplace({s: value_of(s) for s in expr.free_symbols})
            else:  # Aᵀ δ: a number times a number at M = D = 1
                rhs += point.params[term.matrix] * value_of(term.adjoint)
        lhs = adjoint_at(1, r.state)
        if not _same(lhs.xreplace(definitions), rhs.xreplace(definitions)):
            raise UncheckedStep(f"δ{r.state}_t: SymPy could not confirm the recurrence of "
                                f"{cell.name}")
    return found


def _same(a: sympy.Expr, b: sympy.Expr) -> bool:
    """``a == b`` as polynomials in their symbols and function applications (each its own
    variable): the difference is exactly zero at random integer points (Schwartz-Zippel: a
    nonzero polynomial of degree d vanishes at such a point with probability at most d/2^31),
    which spares SymPy the expansion of long products."""
    difference = a - b
    calls = {f: sympy.Dummy() for f in difference.atoms(sympy.Function)}
    polynomial = difference.xreplace(calls)
    rng = random.Random(0)
    for _ in range(3):
        point = {v: sympy.Integer(rng.randint(1, 2**31)) for v in polynomial.free_symbols}
        if polynomial.xreplace(point) != 0:
            return False
    return True
