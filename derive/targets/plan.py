"""The sequence plan: where the sequence functions keep every value, and what each step does.

An analysis of the derivation, printed by ``sequence``: which linear maps share a right operand
(stacked into one matrix), which of them run before the loop (maps of the input), which gates are
computed in place in the stacked buffer and which share one tanh, which values the backward
reads, and, per step of the backward, each adjoint as a linear combination of earlier ones. All
of it follows from the equation graph and the building-block table, never from knowing which
cell this is.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import Mapping

import sympy

from derive.ad.adjoint import BackMatmulTerm, Derivation, ElementwiseTerm
from derive.ad.blocks import BLOCKS, block_of
from derive.ad.cell import prev_name
from derive.naming import adjoint_name


# -- stacked linear maps --------------------------------------------------------------------------


@dataclass(frozen=True)
class Slot:
    """One linear map inside a stacked group: rows start:stop of the stacked matrix."""

    symbol: str
    matrix: str
    start: sympy.Expr  # over dimension symbols, e.g. 2*D
    stop: sympy.Expr
    adjoint: str  # the adjoint variable that holds d_symbol (after aliasing)


@dataclass(frozen=True)
class Group:
    operand: str
    hoisted: bool  # the operand is the cell input: maps run once, before the loop
    slots: tuple[Slot, ...]
    buffer: str  # name of the (T, B, K) buffer of the slots' adjoints (shared when identical)

    @property
    def stack(self) -> str:
        return f"stack_{self.operand}"

    @property
    def maps(self) -> str:
        return f"maps_{self.operand}"


def plan_groups(derivation: Derivation) -> tuple[Group, ...]:
    """One group per operand, its rows in the order the maps were written."""
    cell = derivation.cell
    aliases = dict(derivation.aliases)
    rows = {p.name: p.shape[0] for p in cell.params}
    by_operand: dict[str, list] = {}
    for statement in derivation.forward:
        if statement.is_linear_map:
            by_operand.setdefault(statement.operand, []).append(statement)
    groups, buffers = [], {}
    for operand, statements in by_operand.items():
        slots, offset = [], sympy.Integer(0)
        for s in statements:
            stop = offset + sympy.Symbol(rows[s.matrix])
            d = adjoint_name(s.target)
            slots.append(Slot(s.target, s.matrix, offset, stop, aliases.get(d, d)))
            offset = stop
        key = tuple((slot.adjoint, slot.start, slot.stop) for slot in slots)
        buffer = buffers.setdefault(key, f"d_maps_{operand}")
        groups.append(Group(operand, operand == cell.input[0], tuple(slots), buffer))
    return tuple(groups)


# -- the plan: where every value lives ------------------------------------------------------------


@dataclass(frozen=True)
class Gate:
    """``target = block(pre)``, computed in place over rows start:stop of a (T, B, K) buffer."""

    target: str
    pre: str  # the pre-activation's name (never materialised)
    block: str
    maps: str
    start: sympy.Expr
    stop: sympy.Expr
    extra: sympy.Expr = sympy.Integer(0)  # added to the rows first, known at the step's start


@dataclass(frozen=True)
class Part:
    """``source * coefficient``: one contribution to an adjoint within the step."""

    source: str  # a computed adjoint
    coefficient: sympy.Expr  # a function of forward values only


@dataclass(frozen=True)
class StepAdjoint:
    """An adjoint the loop computes: ``[seed] + sum(source * coefficient) + [buffer @ stack]``."""

    name: str
    target: str
    role: str  # "local" or "state_prev"
    seeded: bool
    parts: tuple[Part, ...]
    matmul: Group | None  # the group whose operand is the target: its buffer @ its stack
    equations: tuple[str, ...]


@dataclass(frozen=True)
class Fusion:
    """A stepped group whose rows ``symbols`` are added into the hoisted group's buffer."""

    hoisted: Group
    symbols: frozenset[str]


@dataclass(frozen=True)
class Place:
    """Where a slot's product lives: rows start:stop of ``buffer``, (T, B, K) when ``per_step``
    (read at step t) or (B, K) (this step's only)."""

    buffer: str
    start: sympy.Expr
    stop: sympy.Expr
    per_step: bool


@dataclass(frozen=True)
class Plan:
    groups: tuple[Group, ...]
    exprs: Mapping[str, sympy.Expr]  # forward target -> expression as the loop computes it
    biases: Mapping[str, tuple[str, ...]]  # hoisted slot symbol -> vectors added before the loop
    fused: Mapping[str, Fusion]  # stepped operand -> how its rows join the input's maps
    stored_maps: frozenset[str]  # stepped operands whose maps buffer is (T, B, K)
    gates: Mapping[str, Gate]  # target -> Gate
    runs: tuple[tuple[Gate, ...], ...]  # adjacent gates of one block: one call
    places: Mapping[str, Place]  # slot symbol -> where its product lives
    steps: tuple[StepAdjoint, ...]  # the backward loop's adjoints, in order
    sums: Mapping[str, tuple[Part, ...]]  # parameter or input -> parts summed over steps
    kept: tuple[str, ...]  # forward values kept over time for the backward


def make_plan(derivation: Derivation) -> Plan:
    """Where every value of the sequence functions lives, and which adjoints the loop computes."""
    groups = plan_groups(derivation)
    exprs = {s.target: s.expr for s in derivation.forward if not s.is_linear_map}
    biases, exprs = _hoist_biases(derivation, groups, exprs)
    fused, exprs = _fuse_sums(derivation, groups, exprs)
    places = {slot.symbol: Place(g.maps, slot.start, slot.stop, g.hoisted)
              for g in groups for slot in g.slots}
    for stepped, fusion in fused.items():
        for slot in next(g for g in groups if g.operand == stepped).slots:
            if slot.symbol in fusion.symbols:
                places[slot.symbol] = Place(fusion.hoisted.maps, slot.start, slot.stop, True)
    steps, sums = _plan_backward(derivation, groups)
    kept = _kept(derivation, groups, steps, sums)
    gates = _gates(derivation, exprs, places, kept)
    # a recurrent product whose rows are kept or hold a gate is itself kept, (T, B, K)
    feeding = {slot for gate in gates.values() for slot, place in places.items()
               if (place.buffer, place.start) == (gate.maps, gate.start)}
    fused_symbols = {symbol for fusion in fused.values() for symbol in fusion.symbols}
    stored = {g.operand for g in groups if not g.hoisted
              and any(slot.symbol not in fused_symbols
                      and (slot.symbol in kept or slot.symbol in feeding) for slot in g.slots)}
    for g in groups:
        if g.operand in stored:
            for slot in g.slots:
                if slot.symbol not in fused_symbols:
                    places[slot.symbol] = Place(g.maps, slot.start, slot.stop, True)
    frozen = MappingProxyType
    return Plan(groups, frozen(exprs), frozen(biases), frozen(fused), frozenset(stored),
                frozen(gates), _runs(gates, groups), frozen(places), steps, frozen(sums), kept)


def _uses(exprs: Mapping[str, sympy.Expr]) -> dict[str, list[str]]:
    uses: dict[str, list[str]] = {}
    for target, expr in exprs.items():
        for symbol in expr.free_symbols:
            uses.setdefault(symbol.name, []).append(target)
    return uses


def _single_use_slots(derivation: Derivation, groups, exprs) -> dict[str, str]:
    """Slot symbols used as a plain term of exactly one sum and nowhere else (nor kept for the
    backward): such a slot's value may be folded into something larger. -> {symbol: target}."""
    slots = {slot.symbol for g in groups for slot in g.slots}
    needed = set(derivation.cache)
    single = {}
    for name, targets in _uses(exprs).items():
        if name not in slots or len(targets) != 1 or name in needed:
            continue
        expr = exprs[targets[0]]
        if isinstance(expr, sympy.Add) and sympy.Symbol(name) in expr.args:
            single[name] = targets[0]
    return single


def _hoist_biases(derivation: Derivation, groups, exprs):
    """Vector parameters added to a map of the input are constant in time: add them to the
    hoisted maps once, before the loop, and drop them from the step.
    -> ({slot symbol: vectors}, the expressions without them)."""
    vectors = {p.name for p in derivation.cell.params if not p.is_matrix}
    single = _single_use_slots(derivation, groups, exprs)
    exprs = dict(exprs)
    biases: dict[str, tuple[str, ...]] = {}
    for g in groups:
        if not g.hoisted:
            continue
        for slot in g.slots:
            target = single.get(slot.symbol)
            if target is None or any(b for s, b in biases.items() if single.get(s) == target):
                continue
            terms = exprs[target].args
            constant = [t for t in terms if isinstance(t, sympy.Symbol) and t.name in vectors]
            if constant:
                biases[slot.symbol] = tuple(t.name for t in constant)
                exprs[target] = sympy.Add(*[t for t in terms if t not in constant])
    return biases, exprs


def _fuse_sums(derivation: Derivation, groups, exprs):
    """Where a pre-activation adds row k of the input's maps to row k of another operand's, the
    step adds that row of its product into the input's buffer, in place, and the pair becomes
    one symbol. -> ({stepped operand: Fusion}, the expressions with the pairs merged)."""
    single = _single_use_slots(derivation, groups, exprs)
    exprs = dict(exprs)
    fused, represented = {}, set()  # hoisted rows already standing for their sum in an expression
    for hoisted in (g for g in groups if g.hoisted):
        for stepped in (g for g in groups if not g.hoisted):
            pairs = [(a, b) for a, b in zip(hoisted.slots, stepped.slots)
                     if (a.start, a.stop) == (b.start, b.stop)
                     and single.get(a.symbol) and single.get(a.symbol) == single.get(b.symbol)]
            if not pairs or stepped.operand in fused:
                continue
            for a, b in pairs:
                # the row's sum is printed once: as the first stepped symbol fused into it
                gone = b if a.symbol in represented else a
                represented.add(a.symbol)
                target = single[a.symbol]
                exprs[target] = exprs[target].xreplace({sympy.Symbol(gone.symbol): 0})
            fused[stepped.operand] = Fusion(hoisted, frozenset(b.symbol for _, b in pairs))
    return fused, exprs


def _gates(derivation: Derivation, exprs, places, kept) -> dict[str, Gate]:
    """Gates computed in place: ``v = f(a_v)`` where ``a_v`` is one slot of a product used
    nowhere else, plus terms known at the step's start (a peephole ``V * c_prev``); f's
    derivative needs only its output, and v is not a state (a state has its own array). The
    product holding a gate is kept for every step (``make_plan``)."""
    uses = _uses(exprs)
    cell = derivation.cell
    states = set(cell.state_names)
    at_start = {cell.input[0]} | {prev_name(s) for s in states} | {p.name for p in cell.params}
    gates = {}
    for target, expr in exprs.items():
        block = block_of(expr)
        if (block is None or block.derivative_needs_argument or not block.numpy_out
                or target in states):
            continue
        pre = expr.args[0]
        if not isinstance(pre, sympy.Symbol) or uses.get(pre.name) != [target] or pre.name in kept:
            continue
        terms = sympy.Add.make_args(exprs.get(pre.name, pre))  # sigmoid(A @ v) has no a_v
        slots = [t for t in terms if isinstance(t, sympy.Symbol) and t.name in places]
        if len(slots) != 1 or slots[0].name in kept:
            continue
        slot = slots[0]
        extra = sympy.Add(*[t for t in terms if t != slot])
        if ((slot != pre and uses.get(slot.name) != [pre.name])
                or not {symbol.name for symbol in extra.free_symbols} <= at_start):
            continue
        place = places[slot.name]
        gates[target] = Gate(target, pre.name, block.name, place.buffer, place.start, place.stop,
                             extra)
    return gates


def _runs(gates: dict, groups) -> tuple[tuple[Gate, ...], ...]:
    """Gates on adjacent rows of one buffer that one call can compute: all of functions with a
    tanh form (one tanh, then each row's scale and shift), or all of one function."""
    order = {}
    for g in groups:
        for k, slot in enumerate(g.slots):
            order.setdefault((g.maps, slot.start), k)
    runs: list[list[Gate]] = []
    for gate in sorted(gates.values(), key=lambda x: (x.maps, order.get((x.maps, x.start), 0))):
        last = runs[-1][-1] if runs else None
        if last and (last.maps, last.stop) == (gate.maps, gate.start) and (
                last.block == gate.block
                or BLOCKS[last.block].tanh_form and BLOCKS[gate.block].tanh_form):
            runs[-1].append(gate)
        else:
            runs.append([gate])
    return tuple(tuple(run) for run in runs)


def tanh_run(run) -> bool:
    return all(BLOCKS[gate.block].tanh_form for gate in run)


def row_scales(plan: Plan) -> dict[tuple[str, sympy.Expr], float]:
    """(buffer, first row) -> the factor its gate's rows are scaled by before the loop: the
    inner factor of its function's tanh form (sigmoid(a) = 0.5 + 0.5*tanh(a/2): 0.5)."""
    scales = {}
    for run in plan.runs:
        if tanh_run(run):
            for gate in run:
                inner = BLOCKS[gate.block].tanh_form[0]
                if inner != 1:
                    scales[(gate.maps, gate.start)] = inner
    return scales


def buffer_of(plan: Plan, g: Group, slot: Slot) -> str:
    """The (T, B, K) or per-step buffer a slot of a group's product lands in."""
    fusion = plan.fused.get(g.operand)
    return fusion.hoisted.maps if fusion and slot.symbol in fusion.symbols else g.maps


def _plan_backward(derivation: Derivation, groups) -> tuple[tuple[StepAdjoint, ...], dict]:
    """Which adjoints the loop computes, each as parts over adjoints computed before it."""
    group_of = {g.operand: g for g in groups}
    buffered = {slot.adjoint for g in groups for slot in g.slots}
    uses: dict[str, int] = {}
    for a in derivation.backward:
        for term in a.terms:
            if isinstance(term, ElementwiseTerm):
                uses[term.adjoint.name] = uses.get(term.adjoint.name, 0) + 1
    inlined: dict[str, dict] = {}

    def parts_of(adjoint) -> dict:
        parts: dict[str, sympy.Expr] = {}
        for term in adjoint.terms:
            if not isinstance(term, ElementwiseTerm):
                continue
            source = term.adjoint.name
            for s, q in inlined.get(source, {source: sympy.Integer(1)}).items():
                parts[s] = parts.get(s, 0) + q * term.partial
        return {s: q for s, q in parts.items() if q != 0}

    steps, sums = [], {}
    for a in derivation.backward:
        name = adjoint_name(a.target)
        if a.role in ("input", "param_vector"):
            parts = parts_of(a)
            if parts:
                sums[a.target] = tuple(Part(s, q) for s, q in parts.items())
            continue
        if a.role not in ("local", "state_prev"):
            continue
        parts = parts_of(a)
        matmul = group_of.get(a.target) if any(isinstance(t, BackMatmulTerm) for t in a.terms) else None
        computed = (a.seeded or matmul is not None or name in buffered or a.role == "state_prev"
                    or _swells(uses.get(name, 0), parts, inlined))
        if computed:
            steps.append(StepAdjoint(name, a.target, a.role, a.seeded,
                                     tuple(Part(s, q) for s, q in parts.items()), matmul,
                                     a.equations))
        else:
            inlined[name] = parts
    return tuple(steps), sums


def _swells(uses: int, parts: dict, inlined: dict) -> bool:
    """Whether inlining an adjoint into its ``uses`` users would grow their coefficients with the
    number of paths through the cell: it has several parts (each user would carry them all), or
    one part that is itself a merge of inlined paths. An adjoint used once, or used several times
    with one plain part, is inlined."""
    if uses <= 1:
        return False
    return len(parts) > 1 or any(sympy.Add.make_args(q)[1:] for q in parts.values())


def _kept(derivation: Derivation, groups, steps, sums) -> tuple[str, ...]:
    """Forward values the backward reads: in coefficients, and the stepped maps' operands."""
    needed = {g.operand for g in groups if not g.hoisted}
    for parts in [s.parts for s in steps] + list(sums.values()):
        for part in parts:
            needed |= {symbol.name for symbol in part.coefficient.free_symbols}
    cell = derivation.cell
    order = ([cell.input[0]] + [prev_name(s) for s in cell.state_names]
             + [s.target for s in derivation.forward])
    return tuple(dict.fromkeys(n for n in order if n in needed and n != cell.input[0]))
