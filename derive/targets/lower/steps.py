"""Lowering of the step functions: ``step_forward`` and ``step_backward``, one statement of the
derivation each, per gate, in the derivation's order."""

from __future__ import annotations

import sympy

from derive.ad.adjoint import Adjoint, BackMatmulTerm, Derivation, ElementwiseTerm, OuterTerm
from derive.ad.blocks import block_of
from derive.ad.cell import prev_name
from derive.naming import adjoint_name
from derive.targets import ir
from derive.targets.ir import Ref
from derive.targets.lower.rewrites import (group_elementwise, params_and_sizes_read,
                                           written_order, written_positions)
from derive.targets.lower.names import Names


def lower_step_forward(derivation: Derivation) -> ir.Function:
    cell = derivation.cell
    body: list[ir.Node] = [ir.Bind(cell.input[0], Ref("x_t"))]
    body += [ir.Bind(prev_name(s), Ref("state", key=s)) for s in cell.state_names]
    positions = {eq.text: written_positions(eq.display) for eq in cell.equations}
    current = None
    for statement in derivation.forward:
        if statement.equation != current:
            current = statement.equation
            body.append(ir.Comment(current))
        if statement.is_linear_map:
            body.append(ir.MatMul(Ref(statement.target), Ref(statement.operand),
                                  Ref(statement.matrix), transpose_b=True))
        else:
            expr = written_order(statement.expr, positions.get(statement.equation, {}))
            body.append(ir.Elementwise(Ref(statement.target), expr))
    body = group_elementwise(body)
    body += [ir.Dict("state_new", tuple((s, Ref(s)) for s in cell.state_names)),
             ir.Dict("step_cache", tuple((n, Ref(n)) for n in derivation.cache)),
             ir.Return(("state_new", "step_cache"))]
    body = [*params_and_sizes_read(cell, Names(derivation), body), *body]
    doc = (f"One step: x_t (B, {cell.input[1]}), state {{name: (B, size)}} -> "
           "(state_new, step_cache).")
    return ir.Function("step_forward", ("params", "x_t", "state"), doc, tuple(body))


def lower_step_backward(derivation: Derivation) -> ir.Function:
    cell = derivation.cell
    body: list[ir.Node] = [ir.Bind(name, Ref("step_cache", key=name)) for name in derivation.cache]
    current: tuple[str, ...] = ()
    shown: set[str] = set()
    calls, computed = _shared_calls(derivation, Names(derivation)), set()
    for adjoint in derivation.backward:
        if adjoint.equations and adjoint.equations != current:
            current = adjoint.equations
            body += _grad_comment(current, shown)
        body += _adjoint(adjoint, calls, computed)
    body = group_elementwise(body)
    body += [ir.Dict("grads", tuple((p.name, Ref(adjoint_name(p.name))) for p in cell.params)),
             ir.Dict("d_state", tuple((s, Ref(adjoint_name(prev_name(s))))
                                      for s in cell.state_names)),
             ir.Return(("grads", adjoint_name(cell.input[0]), "d_state"))]
    body = [*params_and_sizes_read(cell, Names(derivation), body), *body]
    doc = "Adjoints of one step: d_state_new {name: (B, size)} -> (grads, d_x_t, d_state)."
    return ir.Function("step_backward", ("params", "step_cache", "d_state_new"), doc, tuple(body))


def _grad_comment(equations: tuple[str, ...], shown: set[str]) -> list[ir.Node]:
    """Name the forward equations being differentiated: each in full the first time."""
    new = [eq for eq in equations if eq not in shown]
    shown.update(new)
    return [ir.Comment(f"grad of: {eq}") for eq in new]


def _shared_calls(derivation: Derivation, names: Names) -> dict[sympy.Expr, str]:
    """Function calls (``tanh(c)``) more than one adjoint term reads: each is computed once."""
    counts: dict[sympy.Expr, int] = {}
    for adjoint in derivation.backward:
        for term in adjoint.terms:
            if isinstance(term, ElementwiseTerm):
                for call in term.partial.atoms(sympy.Function):
                    counts[call] = counts.get(call, 0) + 1
    shared = {}
    for call, count in counts.items():
        if count > 1 and block_of(call) is not None:
            arg = call.args[0]
            base = f"{call.func.__name__}_{arg}" if isinstance(arg, sympy.Symbol) else "shared"
            shared[call] = names.fresh(base)
    return shared


def _adjoint(adjoint: Adjoint, calls: dict[sympy.Expr, str], computed: set) -> list[ir.Node]:
    """``d_v = [incoming] + elementwise terms``, then the linear maps' terms, each its own
    product; a vector parameter's is summed over the batch. A shared call is computed before
    its first use."""
    name = adjoint_name(adjoint.target)
    out = Ref(name)
    nodes: list[ir.Node] = []
    for term in adjoint.terms:
        if isinstance(term, ElementwiseTerm):
            for call in sorted(term.partial.atoms(sympy.Function), key=str):
                if call in calls and call not in computed:
                    computed.add(call)  # later adjoints read it
                    nodes.append(ir.Elementwise(Ref(calls[call]), call))
    named = {call: sympy.Symbol(n) for call, n in calls.items()}
    elementwise = [t.adjoint * t.partial.xreplace(named) for t in adjoint.terms
                   if isinstance(t, ElementwiseTerm)]
    pieces = [sympy.Symbol("_incoming")] if adjoint.seeded else []
    places = (("_incoming", Ref("d_state_new", key=adjoint.target)),) if adjoint.seeded else ()
    pieces += elementwise
    products = [_product(t) for t in adjoint.terms if not isinstance(t, ElementwiseTerm)]
    if adjoint.role == "param_vector":
        if not pieces:
            return nodes + [ir.ZerosLike(name, Ref(adjoint.target), in_dtype=False)]
        return nodes + [ir.Reduce(name, sympy.Add(*pieces, evaluate=False), places, (0,))]
    first = len(nodes)
    if pieces:
        value = pieces[0] if len(pieces) == 1 else sympy.Add(*pieces, evaluate=False)
        if products and isinstance(value, sympy.Symbol):
            # a bare name would bind the same array, and the products below add into it in
            # place: that would change the other adjoint (or the caller's d_state_new) too
            nodes.append(ir.Copy(name, dict(places).get(value.name, Ref(value.name))))
        else:
            nodes.append(ir.Elementwise(out, value, places))
    for a, b, transpose_a in products:
        nodes.append(ir.MatMul(out, a, b, transpose_a=transpose_a, new=len(nodes) == first,
                               accumulate=len(nodes) > first))
    if len(nodes) == first:
        nodes.append(ir.ZerosLike(name, Ref(adjoint.target), in_dtype=False))
    return nodes


def _product(term: BackMatmulTerm | OuterTerm) -> tuple[Ref, Ref, bool]:
    """A linear map's term as a product of rows-are-samples arrays: ``d_L @ A`` (``Aᵀ d_L``)
    or ``d_L.T @ v`` (``d_L vᵀ`` summed over samples) -> (left, right, left transposed)."""
    if isinstance(term, BackMatmulTerm):
        return Ref(str(term.adjoint)), Ref(term.matrix), False
    return Ref(str(term.adjoint)), Ref(term.operand), True
