"""Symbolic reverse mode: a Cell's equations -> the step's adjoint equations.

The walk is micrograd's, on equations instead of numbers:

1. ``forward_program``: the cell's equations in order, with each linear map ``A @ v`` as its own
   statement just before its first use, and each gate's pre-activation named
   (``i = sigmoid(a_i)``, ``a_i = W_i_x + U_i_h_prev + b_i``), so the adjoints can name it too.
2. ``derive``: walk that program backwards. For ``v = e``, every symbol ``s`` of ``e`` receives
   ``d_v * de/ds``; ``de/ds`` comes from ``sympy.diff`` (function rules from ``blocks``), with
   ``f(a_v)`` replaced by the name ``v`` it defines, so a gate's derivative is written in terms
   of the gate's own value, as a textbook writes it. For a
   linear map ``L = A @ v`` one generic rule applies: ``d_v += Aᵀ d_L`` and ``d_A += d_L vᵀ``
   (``BackMatmulTerm``, ``OuterTerm``; in code, whose rows are samples, ``d_L @ A`` and
   ``d_L.T @ v``).

A symbol's adjoint is complete when the walk reaches its definition, because every use comes later
in the forward order. Nothing here knows any particular cell.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Union

import sympy

from derive.ad.blocks import block_of
from derive.ad.cell import Cell, prev_name
from derive.errors import Location, SpecError
from derive.naming import adjoint_name, fresh_name, pre_activation_name


@dataclass(frozen=True)
class Statement:
    """One forward statement: ``target = expr`` (elementwise) or ``target = matrix @ operand``."""

    target: str
    expr: sympy.Expr | None  # None for a linear map
    equation: str  # the spec equation this statement implements
    matrix: str = ""
    operand: str = ""

    @property
    def is_linear_map(self) -> bool:
        return self.expr is None


@dataclass(frozen=True)
class ElementwiseTerm:
    """``adjoint * partial`` per unit (summed over the batch when the target is a parameter):
    the adjoint of the statement's target times the local partial derivative, a function of
    forward values only."""

    adjoint: sympy.Symbol
    partial: sympy.Expr


@dataclass(frozen=True)
class BackMatmulTerm:
    """A linear map ``L = A @ v``'s contribution to its operand: ``d_v += Aᵀ d_L`` (in code,
    whose rows are samples: ``d_L @ A``)."""

    adjoint: sympy.Symbol
    matrix: str


@dataclass(frozen=True)
class OuterTerm:
    """A linear map ``L = A @ v``'s contribution to its matrix: ``d_A += d_L vᵀ`` (in code,
    summed over the samples: ``d_L.T @ v``)."""

    adjoint: sympy.Symbol
    operand: str


Term = Union[ElementwiseTerm, BackMatmulTerm, OuterTerm]


@dataclass(frozen=True)
class Adjoint:
    """``d_<target> = [incoming seed] + sum(terms)``."""

    target: str
    role: str  # "local", "input", "state_prev", "param_vector" or "param_matrix"
    terms: tuple[Term, ...]
    seeded: bool  # the step receives an incoming adjoint for target (a state's new value)
    equations: tuple[str, ...]  # the forward equations whose derivative these terms are


@dataclass(frozen=True)
class LocalDerivative:
    """``d expr_of(target) / d wrt``, as displayed in the docs."""

    target: str
    wrt: str
    expr: sympy.Expr


@dataclass(frozen=True)
class Derivation:
    cell: Cell
    forward: tuple[Statement, ...]
    local_derivatives: tuple[LocalDerivative, ...]
    backward: tuple[Adjoint, ...]  # in the order they are computed
    aliases: tuple[tuple[str, str], ...]  # adjoint name -> the adjoint it equals (no new variable)
    cache: tuple[str, ...]  # forward values the backward reads, in forward order


def forward_program(cell: Cell) -> tuple[Statement, ...]:
    """The cell's equations as statements, linear maps and pre-activations made explicit."""
    taken = {name for name, _ in cell.dims} | {p.name for p in cell.params}
    taken |= {str(m.symbol) for m in cell.linear_maps}
    placed: set[sympy.Symbol] = set()
    program: list[Statement] = []
    for eq in cell.equations:
        for m in cell.linear_maps:  # in the order they were written
            if m.symbol in eq.expr.free_symbols and m.symbol not in placed:
                placed.add(m.symbol)
                program.append(Statement(str(m.symbol), None, eq.text, m.matrix, m.operand))
        expr = eq.expr
        if block_of(expr) is not None and not isinstance(expr.args[0], sympy.Symbol):
            pre = fresh_name(pre_activation_name(eq.target), taken)
            taken.add(pre)
            program.append(Statement(pre, expr.args[0], eq.text))
            expr = expr.func(sympy.Symbol(pre))
        program.append(Statement(eq.target, expr, eq.text))
    return tuple(program)


# The largest spec derived: time grows linearly with the number of equations and the terms
# (symbol uses) in them, and a spec past these is refused before any work starts.
MAX_EQUATIONS = 200
MAX_TERMS = 2000


def check_size(cell: Cell) -> None:
    """Refuse, located at the first equation past a limit, a spec larger than the limits."""
    terms = 0
    for k, eq in enumerate(cell.equations, 1):
        terms += sum(1 for node in sympy.preorder_traversal(eq.expr) if node.is_Symbol)
        problem = (f"more than {MAX_EQUATIONS} equations" if k > MAX_EQUATIONS else
                   f"more than {MAX_TERMS} terms (symbol uses) in the equations"
                   if terms > MAX_TERMS else "")
        if problem:
            raise SpecError(f"spec too large: {problem}; split the cell or simplify it",
                            Location(cell.path, eq.line or 1, 1))


def derive(cell: Cell) -> Derivation:
    check_size(cell)
    program = forward_program(cell)
    defined_by_call = {s.expr: sympy.Symbol(s.target) for s in program
                       if s.expr is not None and block_of(s.expr) is not None}
    states = set(cell.state_names)
    terms: dict[str, list[Term]] = {}
    sources: dict[str, list[str]] = {}
    aliases: dict[str, str] = {}
    backward: list[Adjoint] = []
    local_derivatives: list[LocalDerivative] = []

    def contribute(name: str, term: Term, equation: str) -> None:
        terms.setdefault(name, []).append(term)
        if equation not in sources.setdefault(name, []):
            sources[name].append(equation)

    def adjoint_symbol(name: str) -> sympy.Symbol:
        return sympy.Symbol(aliases.get(adjoint_name(name), adjoint_name(name)))

    for statement in reversed(program):
        v = statement.target
        if v not in states and not terms.get(v):
            continue  # v reaches no output or state: its adjoint is zero
        own = tuple(terms.get(v, ()))
        if statement.is_linear_map and len(own) == 1 and _is_plain_symbol(own[0]):
            aliases[adjoint_name(v)] = str(own[0].adjoint)
        else:
            backward.append(Adjoint(v, "local", own, v in states, tuple(sources.get(v, ()))))
        d_v = adjoint_symbol(v)
        if statement.is_linear_map:
            contribute(statement.operand, BackMatmulTerm(d_v, statement.matrix), statement.equation)
            contribute(statement.matrix, OuterTerm(d_v, statement.operand), statement.equation)
            continue
        for s in _ordered_symbols(statement.expr):
            partial = sympy.diff(statement.expr, s).subs(defined_by_call)
            if partial == 0:
                continue
            local_derivatives.append(LocalDerivative(v, str(s), partial))
            contribute(str(s), ElementwiseTerm(d_v, partial), statement.equation)

    input_name = cell.input[0]
    leaves = [(input_name, "input")]
    leaves += [(prev_name(s), "state_prev") for s in cell.state_names]
    leaves += [(p.name, "param_matrix" if p.is_matrix else "param_vector") for p in cell.params]
    for name, role in leaves:  # terms and sources listed in forward order, as a reader expects
        backward.append(Adjoint(name, role, tuple(reversed(terms.get(name, ()))), False,
                                tuple(reversed(sources.get(name, ())))))

    return Derivation(
        cell=cell,
        forward=program,
        local_derivatives=tuple(local_derivatives),
        backward=tuple(backward),
        aliases=tuple(aliases.items()),
        cache=_cache(program, backward, cell),
    )


def _cache(program, backward, cell) -> tuple[str, ...]:
    """Forward values read by the backward pass (parameters come from params, not the cache)."""
    param_names = {p.name for p in cell.params}
    needed: set[str] = set()
    for adjoint in backward:
        if not adjoint.terms and adjoint.role in ("input", "state_prev"):
            needed.add(adjoint.target)  # its zero adjoint takes its shape
        for term in adjoint.terms:
            if isinstance(term, ElementwiseTerm):
                needed |= {str(s) for s in term.partial.free_symbols}
            elif isinstance(term, OuterTerm):
                needed.add(term.operand)
    order = [cell.input[0]] + [prev_name(s) for s in cell.state_names] + [s.target for s in program]
    return tuple(n for n in order if n in needed and n not in param_names)


def _ordered_symbols(expr: sympy.Expr) -> list[sympy.Symbol]:
    """Free symbols in a fixed order (first appearance in SymPy's canonical form)."""
    seen: list[sympy.Symbol] = []
    for node in sympy.preorder_traversal(expr):
        if isinstance(node, sympy.Symbol) and node not in seen:
            seen.append(node)
    return seen


def _is_plain_symbol(term: Term) -> bool:
    return isinstance(term, ElementwiseTerm) and term.partial == 1
