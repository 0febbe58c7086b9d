"""Lowering of ``backward(params, cache, dy, d_state_T)``: backprop through time as loop IR.

- within a step every adjoint is linear in the adjoints computed before it, with coefficients
  (partial derivatives) that depend on forward values only. Those are computed before the loop
  for a block of steps at once (few calls, still in cache), so the loop does one multiply per
  (adjoint, source) pair; adjacent adjoints with one source are one broadcast multiply
  (``coefficients.families``);
- an adjoint used once is not computed on its own: its coefficients multiply into its user's
  (``plan._plan_backward``);
- the adjoints of a group's maps are written into one (T, B, K) buffer; after the loop one product
  over all steps gives the stacked matrix gradient and the input's adjoint, and a vector
  parameter's gradient is a sum over that buffer (``after_loop``).

What the lowering decides (names, coefficients, families, which buffers are read as views) is
settled by ``BackwardLayout`` before any statement is made.
"""

from __future__ import annotations

import sympy

from derive.ad.adjoint import Derivation
from derive.naming import adjoint_name
from derive.targets import ir
from derive.targets.ir import ALL, NewAxis, Ref, Span
from derive.targets.lower.coefficients import BackwardLayout, bias_source
from derive.targets.lower.names import BATCH, STEPS, T
from derive.targets.lower.rewrites import (argument_ranks, group_elementwise,
                                           params_and_sizes_read)
from derive.targets.plan import Plan, StepAdjoint


def lower_backward(derivation: Derivation, plan: Plan) -> ir.Function:
    layout = BackwardLayout(derivation, plan)
    body = [*_before_loop(layout), *_loop(layout), *_after_loop(layout)]
    head = [ir.CheckArgs("backward", ("params", "cache", "dy", "d_state_T"),
                         ("steps", "batch", "dtype", "d_state_T")),
            ir.Bind("kept", Ref("cache", key="kept")), ir.Bind("xs", Ref("cache", key="xs"))]
    body = [*head, *params_and_sizes_read(derivation.cell, layout.names, body), *body]
    doc = ("Backprop through time. dy: (T, B, size) adjoint of y, or None; d_state_T:\n"
           "{name: (B, size)} adjoints of the final state (missing names mean zero).\n\n"
           "Returns (grads, dx, d_state0): grads has the keys of params, dx is (T, B, input size).")
    sequences = [Ref("cache", key="xs"), Ref("dy"), *[Ref("kept", key=n) for n in plan.kept]]
    return ir.Function("backward", ("params", "cache", "dy", "d_state_T=None"), doc, tuple(body),
                       argument_ranks(derivation.cell, sequences))


def _before_loop(lay: BackwardLayout) -> list[ir.Node]:
    cell, plan, names = lay.cell, lay.plan, lay.names
    nodes: list[ir.Node] = [ir.Stack(g.stack, tuple((Ref(s.matrix), None) for s in g.slots))
                            for g in plan.groups]
    nodes += [ir.Bind(lay.seq[n], Ref("kept", key=n)) for n in plan.kept]
    nodes.append(ir.Comment("adjoints of the stacked maps, every step: the matrix gradients come "
                            "after the loop"))
    for buffer in dict.fromkeys(g.buffer for g in plan.groups):
        group = next(g for g in plan.groups if g.buffer == buffer)
        every_slot = all(slot.adjoint in lay.adjoint_seq for slot in group.slots)
        nodes.append(ir.Allocate(buffer, (STEPS, BATCH, names.size(group.slots[-1].stop)),
                                 zeros=not every_slot))
    for name, view in lay.adjoint_seq.items():
        if name in lay.viewed:
            buffer, start, stop = lay.slot_views[name][0]
            nodes.append(ir.Bind(view, Ref(buffer)[ALL, ALL, lay.rows(start, stop)]))
    for family in lay.families:
        buffer, start, _ = lay.slot_views[family.members[0].name][0]
        stop = lay.slot_views[family.members[-1].name][0][2]
        nodes.append(ir.Reshape(family.view, Ref(buffer)[ALL, ALL, lay.rows(start, stop)],
                                (STEPS, BATCH, sympy.Integer(len(family.members)), family.width)))
    nodes += [ir.ZerosLike(adjoint_name(t), Ref(t)) for t in lay.per_step_sums if t != lay.x]
    if lay.x in lay.per_step_sums:
        nodes.append(ir.Allocate("dx", (STEPS, BATCH, names.dim(cell.input[1])), zeros=True))
    nodes.append(ir.Comment("adjoints arriving at each step's new state from the step after it"))
    for s, dim in cell.state:
        carried = f"{adjoint_name(s)}_next"
        nodes += [ir.Allocate(carried, (BATCH, names.dim(dim))),
                  ir.LoadState(Ref(carried), "d_state_T", s)]
    return nodes


def _loop(lay: BackwardLayout) -> list[ir.Node]:
    body = tuple(group_elementwise(_step(lay)))
    if not lay.blocked:
        return [ir.Loop("t", sympy.Integer(0), STEPS, body, reverse=True)]
    start, stop = sympy.Symbol(lay.start), sympy.Symbol(lay.stop)
    block = [ir.Bind(n, Ref(lay.seq[n])[Span(start, stop)]) for n in lay.seq if n in lay.in_block]
    block += lay.coefficient_nodes()
    block += [ir.StackAxis(f.stacked, tuple(Ref(c) for c in f.coefficients), 2)
              for f in lay.families]
    offset = sympy.Add(T, sympy.Mul(-1, start, evaluate=False), evaluate=False)
    block.append(ir.Loop("t", start, stop, (ir.Let(lay.k, offset), *body), reverse=True))
    per_step = sympy.Mul(BATCH, lay.names.dim(lay.cell.dim_of(lay.cell.output)), evaluate=False)
    return [ir.Comment("the step's partial derivatives depend on forward values only: computed "
                       "for a block of steps at once, BLOCK_VALUES values an array, few calls "
                       "and still in cache"),
            ir.BlockLoop(lay.block, lay.start, lay.stop, STEPS, per_step, tuple(block))]


def _step(lay: BackwardLayout) -> list[ir.Node]:
    family_of = {m.name: f for f in lay.families for m in f.members}
    body: list[ir.Node] = []
    shown, done = set(), set()
    for step in lay.plan.steps:
        family = family_of.get(step.name)
        members = family.members if family else (step,)
        for equation in [e for member in members for e in member.equations]:
            if equation not in shown:
                shown.add(equation)
                body.append(ir.Comment(f"grad of: {equation}"))
        if family is None:
            body += _step_adjoint(lay, step)
        elif family not in done:
            done.add(family)
            body += _family(lay, family)
    for target, parts in lay.per_step_sums.items():
        total, places = lay.sum_of(parts, target)
        if target == lay.x:
            body.append(ir.Elementwise(Ref("dx")[T], total, places, new=False))
        else:
            body.append(ir.Reduce(adjoint_name(target), total, places, (0,), accumulate=True))
    body += [ir.Bind(f"{adjoint_name(s)}_next", Ref(adjoint_name(f"{s}_prev")))
             for s in lay.cell.state_names]
    return body


def _step_adjoint(lay: BackwardLayout, step: StepAdjoint) -> list[ir.Node]:
    """One adjoint: written straight into its rows of the buffer when it has some."""
    nodes: list[ir.Node] = []
    terms, places = [], []
    if step.seeded:
        carried = Ref(f"{step.name}_next")
        if step.target == lay.cell.output:
            arriving = lay.arriving.get(step.name, step.name)
            nodes.append(ir.Arrive(arriving, carried, "dy", Ref("dy")[T]))
            terms.append(sympy.Symbol(arriving))
        else:
            terms.append(sympy.Symbol(carried.name))
    for part in step.parts:
        term, more = lay.product(part, step.target)
        terms.append(term)
        places += more
    view = None
    if step.name in lay.adjoint_seq:
        view = Ref(lay.adjoint_seq[step.name])[T]
        if step.name in lay.later_sources or lay.slot_views[step.name][1:]:
            nodes.append(ir.Bind(step.name, view))
            view = Ref(step.name)
    out = view or Ref(step.name)
    if step.matmul is not None:
        g = step.matmul
        nodes.append(ir.MatMul(out, Ref(g.buffer)[T], Ref(g.stack), new=view is None))
        if terms:
            nodes.append(ir.Elementwise(out, sympy.Add(*terms, evaluate=False), tuple(places),
                                        new=False, accumulate=True))
    elif not terms:
        nodes.append(ir.Allocate(step.name, (BATCH, lay.names.dim(lay.cell.dim_of(step.target))),
                                 zeros=True) if view is None else
                     ir.Elementwise(out, sympy.Integer(0), new=False))
    elif view is not None or terms != [sympy.Symbol(step.name)]:
        value = terms[0] if len(terms) == 1 else sympy.Add(*terms, evaluate=False)
        nodes.append(ir.Elementwise(out, value, tuple(places), new=view is None))
    for buffer, start, stop in lay.slot_views.get(step.name, [])[1:]:
        nodes.append(ir.Elementwise(Ref(buffer)[T, ALL, lay.rows(start, stop)],
                                    sympy.Symbol(step.name), new=False))
    return nodes


def _family(lay: BackwardLayout, family) -> list[ir.Node]:
    """Adjoints on adjacent rows, one source times each one's coefficient: one broadcast
    multiply, over a (B, n, size) view of their rows."""
    source = family.source
    k = sympy.Symbol(lay.k)
    expr = sympy.Mul(sympy.Symbol(source), sympy.Symbol(family.stacked), evaluate=False)
    places = ((source, Ref(source)[ALL, NewAxis()]), (family.stacked, Ref(family.stacked)[k]))
    read = [m.name for m in family.members if m.name in lay.later_sources]
    return [ir.Elementwise(Ref(family.view)[T], expr, places, new=False),
            *[ir.Bind(name, Ref(lay.adjoint_seq[name])[T]) for name in read]]


def _after_loop(lay: BackwardLayout) -> list[ir.Node]:
    """Matrix gradients and the input's adjoint as one product each over all steps; vector
    gradients as sums over the buffers."""
    cell, plan, x, names = lay.cell, lay.plan, lay.x, lay.names
    nodes: list[ir.Node] = [ir.Comment("one product over all steps per stacked group"),
                            ir.Let("flat", sympy.Mul(STEPS, BATCH, evaluate=False))]
    flat_symbol = sympy.Symbol("flat")
    grads: dict[str, list[Ref]] = {}
    has_dx = x in lay.per_step_sums
    flat = {buffer: names.fresh(f"flat_{buffer}") for buffer in
            dict.fromkeys(g.buffer for g in plan.groups)}
    for buffer, name in flat.items():
        width = names.size(next(g for g in plan.groups if g.buffer == buffer).slots[-1].stop)
        nodes.append(ir.Reshape(name, Ref(buffer), (flat_symbol, width)))
    for g in plan.groups:
        source = "xs" if g.hoisted else lay.seq[g.operand]
        flat_source = names.fresh(f"flat_{source}")
        nodes += [ir.Reshape(flat_source, Ref(source),
                             (flat_symbol, names.dim(cell.dim_of(g.operand)))),
                  ir.MatMul(Ref(f"d_{g.stack}"), Ref(flat[g.buffer]), Ref(flat_source),
                            transpose_a=True)]
        for slot in g.slots:
            grads.setdefault(slot.matrix, []).append(
                Ref(f"d_{g.stack}")[lay.rows(slot.start, slot.stop)])
        if g.hoisted:
            nodes += _input_product(lay, Ref(flat[g.buffer]), Ref(g.stack), has_dx)
            has_dx = True
    nodes += _sums_after(lay, grads, flat, has_dx)
    return nodes + _results(lay, grads)


def _input_product(lay, flat_buffer: Ref, stack: Ref, has_dx: bool) -> list[ir.Node]:
    shape = (STEPS, BATCH, lay.names.dim(lay.cell.input[1]))
    if has_dx:
        flat_dx = lay.names.fresh("flat_dx")
        return [ir.Reshape(flat_dx, Ref("dx"), (sympy.Symbol("flat"), shape[2])),
                ir.MatMul(Ref(flat_dx), flat_buffer, stack, new=False, accumulate=True)]
    return [ir.MatMul(Ref("dx"), flat_buffer, stack), ir.Reshape("dx", Ref("dx"), shape)]


def _sums_after(lay: BackwardLayout, grads, flat, has_dx) -> list[ir.Node]:
    nodes: list[ir.Node] = []
    column_sums: dict[str, str] = {}
    for target, parts in lay.plan.sums.items():
        if target in lay.per_step_sums:
            if target != lay.x:
                grads[target] = [Ref(adjoint_name(target))]
            continue
        total = sympy.Add(*[sympy.Symbol(p.source) * p.coefficient for p in parts])
        places = tuple((n, Ref(lay.seq[n])) for n in sorted(lay.seq)) + tuple(
            (n, Ref(v)) for n, v in lay.adjoint_seq.items())
        places = tuple((n, r) for n, r in places if sympy.Symbol(n) in total.free_symbols)
        if target == lay.x:
            nodes.append(ir.Elementwise(Ref("dx"), total, places, new=not has_dx,
                                        accumulate=has_dx))
            has_dx = True
        elif bias_source(parts):  # its rows of the buffer's column sums
            buffer, start, stop = lay.slot_views[bias_source(parts)][0]
            if buffer not in column_sums:
                column_sums[buffer] = lay.names.fresh(f"sum_{buffer}")
                nodes.append(ir.Reduce(column_sums[buffer], sympy.Symbol(flat[buffer]), (), (0,)))
            grads[target] = [Ref(column_sums[buffer])[lay.rows(start, stop)]]
        else:
            name = adjoint_name(target)  # d_<parameter>: a name specs may not take
            nodes.append(ir.Reduce(name, total, places, (0, 1)))
            grads[target] = [Ref(name)]
    if not has_dx:
        nodes.append(ir.Allocate("dx", (STEPS, BATCH, lay.names.dim(lay.cell.input[1])),
                                 zeros=True))
    return nodes


def _results(lay: BackwardLayout, grads: dict[str, list[Ref]]) -> list[ir.Node]:
    """The gradient dict: every array its own (a sum of blocks is a new array; a block read
    twice is copied), zeros for parameters nothing reaches."""
    nodes: list[ir.Node] = []
    items, given = [], set()
    for p in lay.cell.params:
        refs, name = grads.get(p.name), adjoint_name(p.name)
        if refs is None:
            nodes.append(ir.ZerosLike(name, Ref(p.name)))
            ref = Ref(name)
        elif len(refs) > 1:
            symbols = [sympy.Symbol(f"_term{j}") for j in range(len(refs))]
            nodes.append(ir.Elementwise(Ref(name), sympy.Add(*symbols, evaluate=False),
                                        tuple((s.name, r) for s, r in zip(symbols, refs))))
            ref = Ref(name)
        elif refs[0] in given:
            nodes.append(ir.Copy(name, refs[0]))
            ref = Ref(name)
        else:
            ref = refs[0]
        given.add(ref)
        items.append((p.name, ref))
    d_state0 = tuple((s, Ref(f"{adjoint_name(s)}_next")) for s in lay.cell.state_names)
    return nodes + [ir.Dict("grads", tuple(items)), ir.Dict("d_state0", d_state0),
                    ir.Return(("grads", "dx", "d_state0"))]
