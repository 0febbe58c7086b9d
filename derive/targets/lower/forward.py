"""Lowering of ``forward(params, x, state0)``: the plan's sequence forward as loop IR.

- maps that share a right operand are stacked into one matrix (one product per operand a step);
  maps of the input run once, for all steps, before the loop, constant biases added there
  (``stacks``, ``hoisted_maps``);
- a gate whose pre-activation is its rows of that buffer is computed in place; adjacent gates
  with a tanh form share one tanh and a per-row scale and shift (``activations``);
- every value the backward reads is written, as it is computed, into a (T, B, size) array
  (a state into (T+1, B, size), entry 0 the initial state): nothing is copied or appended.
"""

from __future__ import annotations

import sympy

from derive.ad.adjoint import Derivation, Statement
from derive.ad.blocks import BLOCKS, block_of
from derive.ad.cell import prev_name
from derive.targets import ir
from derive.targets.ir import ALL, Ref, Span
from derive.targets.lower.names import BATCH, STEPS, T, Names
from derive.targets.lower.rewrites import (argument_ranks, group_elementwise,
                                           params_and_sizes_read, written_order,
                                           written_positions)
from derive.targets.plan import Plan, buffer_of, row_scales, tanh_run


def lower_forward(derivation: Derivation, plan: Plan) -> ir.Function:
    return _Forward(derivation, plan).function()


class _Forward:
    """Names are chosen in ``__init__`` (in a fixed order), statements by the methods after it."""

    def __init__(self, derivation: Derivation, plan: Plan):
        self.derivation, self.cell, self.plan = derivation, derivation.cell, plan
        self.stored = plan.stored_maps  # stepped operands whose products are kept per step
        self.names = names = Names(derivation)
        self.states = set(self.cell.state_names)
        self.prevs = {prev_name(s): s for s in self.cell.state_names}
        self.places = {}  # symbol -> its ref at step t, for every slot still in an expression
        for symbol, place in plan.places.items():
            rows = Span(names.size(place.start), names.size(place.stop))
            self.places[symbol] = (Ref(place.buffer)[T, ALL, rows] if place.per_step
                                   else Ref(place.buffer)[ALL, rows])
        self.seq = {name: names.fresh(f"seq_{name}") for name in list(self.cell.state_names)
                    + [n for n in plan.kept if n not in self.prevs and n not in self.states]}
        self.run_views = {run: names.fresh("seq_" + "_".join(g.target for g in run))
                          for run in plan.runs if len(run) > 1}
        self.affine = {}  # run -> (scale, shift) after its tanh: numbers or per-column arrays
        for run in plan.runs:
            forms = [BLOCKS[gate.block].tanh_form for gate in run]
            if not tanh_run(run) or all(form[1:] == (1.0, 0.0) for form in forms):
                self.affine[run] = None
            elif len(set(forms)) == 1:
                self.affine[run] = (forms[0][1], forms[0][2])
            else:
                self.affine[run] = (Ref(names.fresh("gate_scale")), Ref(names.fresh("gate_shift")))
        self.gate_seq = {gate.target: self.seq.get(gate.target) or names.fresh(f"seq_{gate.target}")
                         for gate in plan.gates.values()}
        self.gates_name = names.fresh("gates") if any(self.affine.values()) else ""
        self.flat_xs = names.fresh("flat_xs")
        displays = {eq.text: eq.display for eq in self.cell.equations}
        self.positions = {s.target: written_positions(displays.get(s.equation))
                          for s in derivation.forward}

    def rows(self, start, stop) -> Span:
        return Span(self.names.size(start), self.names.size(stop))

    def now(self, name: str) -> Ref:
        """A per-step array's entry at the step being computed."""
        return Ref(name)[T]

    def function(self) -> ir.Function:
        body = [*self.stacks(), *self.hoisted_maps(), *self.storage(),
                ir.Loop("t", sympy.Integer(0), STEPS, tuple(group_elementwise(self.step()))),
                *self.epilogue()]
        body = [*self.setup(), *params_and_sizes_read(self.cell, self.names, body), *body]
        doc = (f"Run T steps. x: (T, B, {self.cell.input[1]}); state0: {{name: (B, size)}}, "
               "None or a missing\nname meaning zeros.\n\n"
               "Returns (y, state_T, cache): y is (T, B, size) of OUTPUT at every step.")
        return ir.Function("forward", ("params", "x", "state0=None"), doc, tuple(body),
                           argument_ranks(self.cell, [Ref("x")]))

    def setup(self) -> list[ir.Node]:
        return [ir.CheckArgs("forward", ("params", "x", "state0"), ("steps", "batch", "dtype",
                                                                     "state0")),
                ir.Bind("xs", Ref("x"))]

    def stacks(self) -> list[ir.Node]:
        plan = self.plan
        nodes: list[ir.Node] = [ir.Comment("linear maps that share an operand, stacked: one "
                                           "matrix product per operand")]
        scales = row_scales(plan)
        if scales:
            forms = dict.fromkeys(g.block for run in plan.runs if tanh_run(run) for g in run
                                  if BLOCKS[g.block].tanh_form[0] != 1)
            identities = ", ".join(f"{name}(a) = {shift!r} + {scale!r}*tanh({inner!r}*a)"
                                   for name in forms
                                   for inner, scale, shift in [BLOCKS[name].tanh_form])
            nodes += [ir.Comment("gates are computed through tanh, their rows scaled by its "
                                 f"inner factor: {identities}")]
        for g in plan.groups:
            parts = tuple((Ref(slot.matrix),
                           scales.get((buffer_of(plan, g, slot), slot.start))) for slot in g.slots)
            # transposed once, contiguous: BLAS is much faster on it than on a transposed view
            nodes.append(ir.Stack(f"{g.stack}_T", parts, transpose=True))
        return nodes

    def hoisted_maps(self) -> list[ir.Node]:
        plan, nodes = self.plan, []
        scales = row_scales(plan)
        rows_of = {p.name: p.shape[0] for p in self.cell.params}
        for g in (g for g in plan.groups if g.hoisted):
            width = self.names.size(g.slots[-1].stop)
            nodes += [
                ir.Comment("maps of the input do not depend on the state: all steps at once"),
                ir.Reshape(self.flat_xs, Ref("xs"),
                           (sympy.Mul(STEPS, BATCH, evaluate=False),
                            self.names.dim(self.cell.input[1]))),
                ir.MatMul(Ref(g.maps), Ref(self.flat_xs), Ref(f"{g.stack}_T"), cast=True),
                ir.Reshape(g.maps, Ref(g.maps), (STEPS, BATCH, width)),
            ]
            if any(plan.biases.get(slot.symbol) for slot in g.slots):
                rows = tuple(tuple((Ref(bias), scales.get((g.maps, slot.start)))
                                   for bias in plan.biases.get(slot.symbol, ()))
                             for slot in g.slots)
                sizes = tuple(self.names.dim(rows_of[slot.matrix]) for slot in g.slots)
                nodes.append(ir.AddRows(Ref(g.maps), rows, sizes))
        return nodes

    def storage(self) -> list[ir.Node]:
        """The arrays the loop writes into, and the views of them it reads."""
        cell, plan, seq, names = self.cell, self.plan, self.seq, self.names
        nodes: list[ir.Node] = [ir.Allocate(g.maps, (STEPS, BATCH, names.size(g.slots[-1].stop)))
                                for g in plan.groups if g.operand in plan.stored_maps]
        nodes.append(ir.Comment("what the backward reads, written in place as it is computed; a "
                                "state's entry 0 is its initial value"))
        for s, dim in cell.state:
            nodes += [ir.Allocate(seq[s], (sympy.Add(STEPS, 1, evaluate=False), BATCH, names.dim(dim))),
                      ir.LoadState(Ref(seq[s])[0], "state0", s)]
        for n in plan.kept:
            if n in seq and n not in self.states and n not in plan.gates and n not in plan.places:
                nodes.append(ir.Allocate(seq[n], (STEPS, BATCH, names.dim(_dim(self.derivation, n)))))
        for run, name in self.run_views.items():
            nodes.append(ir.Bind(name, Ref(run[0].maps)[ALL, ALL, self.rows(run[0].start,
                                                                           run[-1].stop)]))
        for run, affine in self.affine.items():
            if affine and isinstance(affine[0], Ref):
                nodes.append(ir.Comment("each row's scale and shift, one copy per sample: the "
                                        "loop's multiply and add then need no broadcasting"))
                counts = tuple(names.dim(cell.dim_of(gate.target)) for gate in run)
                for ref, k in zip(affine, (1, 2)):
                    values = tuple(BLOCKS[gate.block].tanh_form[k] for gate in run)
                    nodes.append(ir.RowConstants(ref.name, values, counts, BATCH))
        for gate in plan.gates.values():
            nodes.append(ir.Bind(self.gate_seq[gate.target],
                                 Ref(gate.maps)[ALL, ALL, self.rows(gate.start, gate.stop)]))
        return nodes

    def step(self) -> list[ir.Node]:
        """One step: its state and input at step t bound, then its statements."""
        plan, seq, x = self.plan, self.seq, self.cell.input[0]
        used = {symbol.name for expr in plan.exprs.values() for symbol in expr.free_symbols}
        body: list[ir.Node] = [ir.Bind(p, Ref(seq[s])[T]) for p, s in self.prevs.items()
                               if p in used or any(g.operand == p for g in plan.groups
                                                   if not g.hoisted)]
        if x in used:
            body.append(ir.Bind(x, Ref("xs")[T]))
        return body + self.statements(used)

    def wanted(self, target: str) -> bool:
        """Whether the step computes ``target`` (the forward: every value)."""
        return True

    def statements(self, used) -> list[ir.Node]:
        """The program's statements in order, gates of a run at its first."""
        plan, body = self.plan, []
        shown, done_runs = set(), set()
        run_of = {gate.target: run for run in plan.runs for gate in run}
        equation_of = {s.target: s.equation for s in self.derivation.forward}
        pre_activations = {gate.pre for gate in plan.gates.values()}
        for statement in self.derivation.forward:
            target = statement.target
            if statement.is_linear_map:
                body += self.product(statement)
                continue
            if target in pre_activations or not self.wanted(target):
                continue
            run = run_of.get(target, ())
            for equation in [statement.equation] + [equation_of[g.target] for g in run]:
                if equation not in shown:
                    shown.add(equation)
                    body.append(ir.Comment(equation))
            body += self.value(target, run, used, done_runs)
        return body

    def value(self, target, run, used, done_runs) -> list[ir.Node]:
        plan, seq, places = self.plan, self.seq, tuple(self.places.items())
        expr = plan.exprs.get(target)
        expr = expr if expr is None else written_order(expr, self.positions[target])
        if target in plan.gates:
            nodes = []
            if run not in done_runs:
                done_runs.add(run)
                nodes += self.extras(run) + self.activations(run)
            if target in used or target in self.states:
                nodes.append(ir.Bind(target, self.now(self.gate_seq[target])))
            return nodes
        if target in self.states or target in seq:
            at = sympy.Add(T, 1, evaluate=False) if target in self.states else T
            return [ir.Bind(target, Ref(seq[target])[at]),
                    ir.Elementwise(Ref(target), expr, _used_places(expr, places), new=False)]
        return [ir.Elementwise(Ref(target), expr, _used_places(expr, places))]

    def product(self, statement: Statement) -> list[ir.Node]:
        """A group's product, once a step, at its first map; the input's maps came before."""
        plan = self.plan
        g = next(g for g in plan.groups if g.operand == statement.operand)
        if (g.hoisted or statement.target != g.slots[0].symbol
                or not any(self.wanted(slot.symbol) for slot in g.slots)):
            return []
        maps = ", ".join(f"{slot.matrix} @ {g.operand}" for slot in g.slots)
        fusion = plan.fused.get(g.operand)
        symbols = fusion.symbols if fusion else frozenset()
        stack = Ref(f"{g.stack}_T")
        if fusion and len(symbols) == len(g.slots) == len(fusion.hoisted.slots):  # every row
            into = self.now(fusion.hoisted.maps)
            return [ir.Comment(f"{maps}: one product, added to the input's maps in place"),
                    ir.MatMul(into, Ref(g.operand), stack, new=False, accumulate=True)]
        ranges = _row_ranges([slot for slot in g.slots if slot.symbol in symbols])
        note = "; rows " + ", ".join(f"{a}:{b}" for a, b in ranges) + \
            " added to the input's maps in place" if ranges else ""
        if g.operand in self.stored:
            nodes = [ir.Comment(f"{maps}: one product{note}"),
                     ir.MatMul(self.now(g.maps), Ref(g.operand), stack, new=False)]
            own = self.now(g.maps)[ALL]
        else:
            nodes = [ir.Comment(f"{maps}: one product{note}"),
                     ir.MatMul(Ref(g.maps), Ref(g.operand), stack)]
            own = Ref(g.maps)[ALL]
        for start, stop in ranges:
            rows = self.rows(start, stop)
            into = self.now(fusion.hoisted.maps)[ALL, rows]
            nodes.append(ir.Elementwise(into, sympy.Symbol("_own"), (("_own", own[rows]),),
                                        new=False, accumulate=True))
        return nodes

    def extras(self, run) -> list[ir.Node]:
        """Terms a gate adds to its rows before its function (scaled like its rows)."""
        nodes = []
        for gate in run:
            if gate.extra == 0:
                continue
            inner = BLOCKS[gate.block].tanh_form[0] if tanh_run(run) else 1.0
            extra = gate.extra if inner == 1 else sympy.Mul(sympy.Float(inner), gate.extra,
                                                             evaluate=False)
            nodes.append(ir.Elementwise(self.now(self.gate_seq[gate.target]), extra,
                                        _used_places(extra, tuple(self.places.items())),
                                        new=False, accumulate=True))
        return nodes

    def activations(self, run) -> list[ir.Node]:
        view = self.now(self.run_views.get(run, self.gate_seq[run[0].target]))
        targets = ", ".join(gate.target for gate in run)
        if not tanh_run(run) or self.affine[run] is None:
            function = run[0].block if not tanh_run(run) else "tanh"
            head = [ir.Comment(f"{targets}: {function} over their rows, one call, in place")]
            return head * (len(run) > 1) + [ir.Activate(view, function)]
        what = ("one tanh over their rows, in place, then each row's scale and shift"
                if len(run) > 1 else "a tanh over its rows, in place, then a scale and shift")
        scale, shift = self.affine[run]
        return [ir.Comment(f"{targets}: {what}"), ir.Bind(self.gates_name, view),
                ir.Activate(Ref(self.gates_name), "tanh", scale, shift)]

    def epilogue(self) -> list[ir.Node]:
        """The output, the final state and the cache: views of the arrays, nothing copied."""
        cell, plan, seq = self.cell, self.plan, self.seq
        kept = {}
        for n in plan.kept:
            if n in self.prevs:
                kept[n] = Ref(seq[self.prevs[n]])[Span(None, sympy.Integer(-1))]
            elif n in self.states:
                kept[n] = Ref(seq[n])[Span(sympy.Integer(1), None)]
            elif n in plan.gates:
                kept[n] = Ref(self.gate_seq[n])
            elif n in plan.places:
                place = plan.places[n]
                kept[n] = Ref(place.buffer)[ALL, ALL, self.rows(place.start, place.stop)]
            else:
                kept[n] = Ref(seq[n])
        return [
            ir.Bind("y", Ref(seq[cell.output])[Span(sympy.Integer(1), None)]),
            ir.Dict("state_T", tuple((s, Ref(seq[s])[STEPS]) for s in cell.state_names)),
            ir.Dict("kept", tuple(kept.items())),
            ir.Dict("cache", (("kept", Ref("kept")), ("xs", Ref("xs")), ("dtype", Ref("dtype")))),
            ir.Return(("y", "state_T", "cache")),
        ]


def _used_places(expr: sympy.Expr, places) -> tuple[tuple[str, Ref], ...]:
    names = {s.name for s in expr.free_symbols}
    return tuple((name, ref) for name, ref in places if name in names)


def _row_ranges(slots) -> list[tuple[sympy.Expr, sympy.Expr]]:
    """Adjacent slots merged: [(start, stop), ...]."""
    ranges: list[list] = []
    for slot in slots:
        if ranges and ranges[-1][1] == slot.start:
            ranges[-1][1] = slot.stop
        else:
            ranges.append([slot.start, slot.stop])
    return [tuple(r) for r in ranges]


def _dim(derivation: Derivation, name: str) -> str:
    """A value's dimension; a pre-activation has its gate's."""
    dims = dict(derivation.cell.dims)
    if name in dims:
        return dims[name]
    for s in derivation.forward:
        if not s.is_linear_map and block_of(s.expr) and s.expr.args[0] == sympy.Symbol(name):
            return dims[s.target]
    raise KeyError(name)
