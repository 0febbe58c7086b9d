"""Lowering of ``recompute(params, xs, states)``: what the backward reads, again, for all steps at
once, from the states saved by the forward.

Given the state values before (and after) every step, the steps are independent: the forward's
step (``derive/targets/lower/forward.py``, same plan) runs once over all T*B rows, with the
recurrent maps hoisted like the input's (one product per stacked map over every row), then the
elementwise work, and no time loop. Only what the backward reads is computed: the values it
needs, and what those need, back to the input, the parameters and the saved states.
"""

from __future__ import annotations

import textwrap

import sympy

from derive.ad.adjoint import Derivation
from derive.ad.blocks import BLOCKS
from derive.ad.cell import prev_name
from derive.targets import ir
from derive.targets.ir import ALL, Ref
from derive.targets.lower.forward import _dim, _used_places, _Forward
from derive.targets.lower.names import BATCH, STEPS
from derive.targets.lower.rewrites import group_elementwise, params_and_sizes_read, written_order
from derive.targets.plan import Plan


def lower_recompute(derivation: Derivation, plan: Plan) -> ir.Function:
    return _Recompute(derivation, plan).function()


def recompute_reads(derivation: Derivation, plan: Plan) -> tuple[str, ...]:
    """The state values (names of ``plan.kept``: a state before or after each step) that
    ``recompute`` reads from the forward, in the order of ``plan.kept``."""
    return _Recompute(derivation, plan).reads


def _state_values(derivation: Derivation) -> set[str]:
    states = derivation.cell.state_names
    return set(states) | {prev_name(s) for s in states}


def _needed(derivation: Derivation, plan: Plan) -> set[str]:
    """What the backward reads that is not a state, and every value it is computed from, back
    to the input, the parameters and the states (included, not followed): slots of a stacked
    buffer's rows bring every slot added into those rows, a gate brings its run."""
    given = _state_values(derivation)
    run_of = {gate.target: run for run in plan.runs for gate in run}
    sharing: dict[tuple, set[str]] = {}
    for symbol, place in plan.places.items():
        sharing.setdefault((place.buffer, place.start), set()).add(symbol)
    operand = {slot.symbol: g.operand for g in plan.groups for slot in g.slots}
    todo, needed = [n for n in plan.kept if n not in given], set()
    while todo:
        name = todo.pop()
        if name in needed:
            continue
        needed.add(name)
        if name in given:
            continue
        expr = plan.exprs.get(name, sympy.Integer(0))
        todo += [symbol.name for symbol in expr.free_symbols]
        for gate in run_of.get(name, ()):
            todo += [gate.target, gate.pre] + [s.name for s in gate.extra.free_symbols]
            todo += sharing.get((gate.maps, gate.start), ())
        if name in plan.places:
            place = plan.places[name]
            todo += [*sharing[(place.buffer, place.start)], operand[name]]
    return needed


class _Recompute(_Forward):
    """The forward's step over all T*B rows: every per-step array is (T*B, size), no loop."""

    def __init__(self, derivation: Derivation, plan: Plan):
        super().__init__(derivation, plan)
        self.stored = frozenset()  # every product is one array over all rows
        self.places = {symbol: Ref(place.buffer)[ALL, self.rows(place.start, place.stop)]
                       for symbol, place in plan.places.items()}
        self.needed = _needed(derivation, plan)
        given = _state_values(derivation)
        self.reads = tuple(dict.fromkeys(n for n in plan.kept if n in given)) + tuple(
            sorted(n for n in self.needed & given if n not in plan.kept))
        self.flat = "flat"  # steps*batch, as the backward names it
        self.runs = tuple(run for run in plan.runs if any(self.wanted(g.target) for g in run))

    def now(self, name: str) -> Ref:
        return Ref(name)

    def wanted(self, target: str) -> bool:
        return target in self.needed and target not in self.reads

    def function(self) -> ir.Function:
        body = [*self.stacks(), *self.inputs(), *self.hoisted(), *self.storage(),
                *group_elementwise(self.statements(self.used())), *self.epilogue()]
        setup = [ir.CheckArgs("recompute", ("params", "xs", "states"),
                              ("steps", "batch", "dtype")),
                 ir.Let(self.flat, sympy.Mul(STEPS, BATCH, evaluate=False))]
        body = [*setup, *params_and_sizes_read(self.cell, self.names, body), *body]
        reads = ", ".join(self.reads)
        doc = textwrap.fill(
            f"cache['kept'] again, from the forward's input xs (T, B, {self.cell.input[1]}) and "
            "states "
            f"{{{reads}}}, each (T, B, size): given the states before every step, the steps are "
            "independent, so each stacked map is one product over all T*B rows and there is no "
            "time loop.".replace("(T, B, size)", "(T,\0B,\0size)"), 92).replace("\0", " ")
        return ir.Function("recompute", ("params", "xs", "states"), doc, tuple(body))

    def used(self) -> set[str]:
        return {symbol.name for name in self.needed if name in self.plan.exprs
                for symbol in self.plan.exprs[name].free_symbols}

    def stacks(self) -> list[ir.Node]:
        nodes = super().stacks()
        wanted = {f"{g.stack}_T" for g in self.groups()}
        return [n for n in nodes if not isinstance(n, ir.Stack) or n.name in wanted]

    def groups(self):
        return [g for g in self.plan.groups if any(self.wanted(s.symbol) for s in g.slots)]

    def inputs(self) -> list[ir.Node]:
        """The input and the saved states, every step's rows one after another."""
        x, names = self.cell.input[0], self.names
        nodes: list[ir.Node] = [ir.Comment("every step at once: the states before each step are "
                                           "given, so the steps are independent")]
        if any(g.hoisted for g in self.groups()):
            nodes.append(ir.Reshape(self.flat_xs, Ref("xs"),
                                    (sympy.Symbol(self.flat), names.dim(self.cell.input[1]))))
            if x in self.used():
                nodes.append(ir.Bind(x, Ref(self.flat_xs)))
        for name in self.reads:
            if name in self.needed:
                dim = names.dim(self.cell.dim_of(self.prevs.get(name, name)))
                nodes.append(ir.Reshape(name, Ref("states", key=name),
                                        (sympy.Symbol(self.flat), dim)))
        return nodes

    def hoisted(self) -> list[ir.Node]:
        """The input's maps: the forward's, without the reshape to (T, B, size)."""
        if not any(g.hoisted for g in self.groups()):
            return []
        return [n for n in self.hoisted_maps() if not isinstance(n, (ir.Reshape, ir.Comment))]

    def storage(self) -> list[ir.Node]:
        """Views of the stacked buffers: each gate's rows, a run's rows, a run's scale and shift
        (one row, broadcast over all rows)."""
        nodes: list[ir.Node] = []
        for run in self.runs:
            if run in self.run_views:
                nodes.append(ir.Bind(self.run_views[run],
                                     Ref(run[0].maps)[ALL, self.rows(run[0].start, run[-1].stop)]))
            affine = self.affine[run]
            if affine and isinstance(affine[0], Ref):
                nodes.append(ir.Comment("each row's scale and shift, one row broadcast over all"))
                counts = tuple(self.names.dim(self.cell.dim_of(gate.target)) for gate in run)
                for ref, k in zip(affine, (1, 2)):
                    values = tuple(BLOCKS[gate.block].tanh_form[k] for gate in run)
                    nodes.append(ir.RowConstants(ref.name, values, counts, sympy.Integer(1)))
            for gate in run:
                nodes.append(ir.Bind(self.gate_seq[gate.target],
                                     Ref(gate.maps)[ALL, self.rows(gate.start, gate.stop)]))
        return nodes

    def value(self, target, run, used, done_runs) -> list[ir.Node]:
        plan = self.plan
        if target in plan.gates:
            nodes = []
            if run not in done_runs:
                done_runs.add(run)
                nodes += self.extras(run) + self.activations(run)
            if target in used:
                nodes.append(ir.Bind(target, Ref(self.gate_seq[target])))
            return nodes
        expr = written_order(self.plan.exprs[target], self.positions[target])
        return [ir.Elementwise(Ref(target), expr, _used_places(expr, tuple(self.places.items())))]

    def epilogue(self) -> list[ir.Node]:
        """cache['kept']: the saved states as given, the rest as (T, B, size) views."""
        plan, nodes, kept = self.plan, [], {}
        for n in plan.kept:
            if n in self.reads:
                kept[n] = Ref("states", key=n)
                continue
            if n in plan.places:  # a product's rows
                place = plan.places[n]
                flat, name = self.places[n], self.seq[n]
                size = self.names.size(place.stop - place.start)
            else:
                flat, name = (Ref(self.gate_seq[n]), self.gate_seq[n]) if n in plan.gates else (
                    Ref(n), self.seq[n])
                size = self.names.dim(_dim(self.derivation, n))
            nodes.append(ir.Reshape(name, flat, (STEPS, BATCH, size)))
            kept[n] = Ref(name)
        return [*nodes, ir.Dict("kept", tuple(kept.items())), ir.Return(("kept",))]
