"""Lowering of the step functions: ``step_forward`` and ``step_backward``, one statement of the
derivation each, per gate, in the derivation's order."""

from __future__ import annotations

import sympy

from derive.ad.adjoint import Adjoint, Derivation
from derive.ad.cell import prev_name
from derive.naming import adjoint_name
from derive.targets import ir
from derive.targets.ir import Ref
from derive.targets.lower.rewrites import group_elementwise, params_and_sizes_read
from derive.targets.lower.names import Names


def lower_step_forward(derivation: Derivation) -> ir.Function:
    cell = derivation.cell
    body: list[ir.Node] = [ir.Bind(cell.input[0], Ref("x_t"))]
    body += [ir.Bind(prev_name(s), Ref("state", key=s)) for s in cell.state_names]
    current = None
    for statement in derivation.forward:
        if statement.equation != current:
            current = statement.equation
            body.append(ir.Comment(current))
        if statement.is_linear_map:
            body.append(ir.MatMul(Ref(statement.target), Ref(statement.operand),
                                  Ref(statement.matrix), transpose_b=True))
        else:
            body.append(ir.Elementwise(Ref(statement.target), statement.expr))
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
    for adjoint in derivation.backward:
        if adjoint.equations and adjoint.equations != current:
            current = adjoint.equations
            body += _grad_comment(current, shown)
        body += _adjoint(adjoint)
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


def _adjoint(adjoint: Adjoint) -> list[ir.Node]:
    """``d_v = [incoming] + elementwise terms``, then the linear maps' terms, each its own
    product; a vector parameter's is summed over the batch."""
    name = adjoint_name(adjoint.target)
    out = Ref(name)
    elementwise = [t.adjoint * t.partial for t in adjoint.terms if t.kind == "elementwise"]
    pieces = [sympy.Symbol("_incoming")] if adjoint.seeded else []
    places = (("_incoming", Ref("d_state_new", key=adjoint.target)),) if adjoint.seeded else ()
    pieces += elementwise
    products = [t for t in adjoint.terms if t.kind != "elementwise"]
    if adjoint.role == "param_vector":
        if not pieces:
            return [ir.ZerosLike(name, Ref(adjoint.target), in_dtype=False)]
        return [ir.Reduce(name, sympy.Add(*pieces, evaluate=False), places, (0,))]
    nodes: list[ir.Node] = []
    if pieces:
        value = pieces[0] if len(pieces) == 1 else sympy.Add(*pieces, evaluate=False)
        nodes.append(ir.Elementwise(out, value, places))
    for term in products:
        if term.kind == "back_matmul":
            a, b, transpose_a = Ref(str(term.adjoint)), Ref(term.matrix), False
        else:
            a, b, transpose_a = Ref(str(term.adjoint)), Ref(term.operand), True
        nodes.append(ir.MatMul(out, a, b, transpose_a=transpose_a, new=not nodes,
                               accumulate=bool(nodes)))
    if not nodes:
        nodes.append(ir.ZerosLike(name, Ref(adjoint.target), in_dtype=False))
    return nodes
