"""The sequence printer: forward and backward through time, organised for speed.

The per-step arithmetic is the derivation's, printed by the same NumPy printer as the step
functions; what changes is where the linear maps happen. All of it follows from the equation
graph, never from knowing which cell this is:

- maps that share a right operand are stacked into one matrix, so each operand costs one product
  a step (the article's W ∈ R^{4D×(M+D)}, split by operand);
- maps of the input do not depend on the state: they run once, for all steps, before the loop;
- the adjoints of a group's maps are written into one (T, B, K) buffer; after the loop one product
  over all steps gives the stacked matrix gradient, and for the input, its adjoint;
- a vector parameter whose gradient is a stacked adjoint is summed once after the loop.
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy

from .adjoint import Adjoint, Derivation
from .cell import Cell, prev_name
from .naming import adjoint_name


@dataclass(frozen=True)
class Slot:
    """One linear map inside a stacked group: rows start:stop of the stacked matrix."""

    symbol: str
    matrix: str
    start: str  # code expression, e.g. "2*D"
    stop: str
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
    cell = derivation.cell
    aliases = dict(derivation.aliases)
    rows = {p.name: p.shape[0] for p in cell.params}
    by_operand: dict[str, list] = {}
    for statement in derivation.forward:
        if statement.is_linear_map:
            by_operand.setdefault(statement.operand, []).append(statement)
    groups, buffers = [], {}
    for operand, statements in by_operand.items():
        slots, offset = [], "0"
        for s in statements:
            stop = _add(offset, rows[s.matrix])
            d = adjoint_name(s.target)
            slots.append(Slot(s.target, s.matrix, offset, stop, aliases.get(d, d)))
            offset = stop
        key = tuple((slot.adjoint, slot.start, slot.stop) for slot in slots)
        buffer = buffers.setdefault(key, f"d_maps_{operand}")
        groups.append(Group(operand, operand == cell.input[0], tuple(slots), buffer))
    return tuple(groups)


def _add(offset: str, dim: str) -> str:
    """Offsets as code: "0" + "D" -> "D", "D" + "D" -> "2*D", "2*D" + "P" -> "2*D + P"."""
    terms: dict[str, int] = {}
    for part in ([] if offset == "0" else offset.split(" + ")) + [dim]:
        count, _, name = part.rpartition("*")
        terms[name] = terms.get(name, 0) + (int(count) if count else 1)
    return " + ".join(name if n == 1 else f"{n}*{name}" for name, n in terms.items())


def _single_use_slots(derivation: Derivation, groups, exprs) -> dict[str, str]:
    """Slot symbols used as a plain term of exactly one sum and nowhere else (nor kept for the
    backward): such a slot's value may be folded into something larger. -> {symbol: target}."""
    slots = {slot.symbol for g in groups for slot in g.slots}
    kept = set(kept_names(derivation))
    uses: dict[str, list[str]] = {}
    for target, expr in exprs.items():
        for symbol in expr.free_symbols:
            if symbol.name in slots:
                uses.setdefault(symbol.name, []).append(target)
    single = {}
    for name, targets in uses.items():
        expr = exprs[targets[0]]
        if (len(targets) == 1 and name not in kept and isinstance(expr, sympy.Add)
                and sympy.Symbol(name) in expr.args):
            single[name] = targets[0]
    return single


def _hoist_biases(derivation: Derivation, groups, exprs) -> dict[str, list[str]]:
    """Vector parameters added to a map of the input are constant in time: add them to the
    hoisted maps once, before the loop, and drop them from the step. Edits ``exprs``."""
    vectors = {p.name for p in derivation.cell.params if not p.is_matrix}
    single = _single_use_slots(derivation, groups, exprs)
    biases: dict[str, list[str]] = {}
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
                biases[slot.symbol] = [t.name for t in constant]
                exprs[target] = sympy.Add(*[t for t in terms if t not in constant])
    return biases


def _fuse_sums(derivation: Derivation, groups, exprs, names) -> dict[str, tuple]:
    """Where each pre-activation adds row k of the input's maps to row k of another operand's
    (the groups share one adjoint buffer), add the two stacked products in one call. Edits
    ``exprs`` (the pair becomes one symbol) and ``names`` (which prints as the sum's slice)."""
    single = _single_use_slots(derivation, groups, exprs)
    fused = {}
    for hoisted in (g for g in groups if g.hoisted):
        for stepped in (g for g in groups if not g.hoisted and g.buffer == hoisted.buffer):
            rows = list(zip(hoisted.slots, stepped.slots))
            if not all(single.get(a.symbol) and single.get(a.symbol) == single.get(b.symbol)
                       for a, b in rows):
                continue
            total = f"maps_{hoisted.operand}_{stepped.operand}"
            for a, b in rows:
                target = single[a.symbol]
                exprs[target] = exprs[target].xreplace({sympy.Symbol(a.symbol): 0})
                names[b.symbol] = f"{total}[:, {b.start}:{b.stop}]"
            fused[total] = (hoisted, stepped)
    return fused


def kept_names(derivation: Derivation) -> tuple[str, ...]:
    """Forward values the sequence backward reads, per step: what its loop body uses, plus the
    non-input operands of stacked maps (their matrix gradients come after the loop)."""
    groups = plan_groups(derivation)
    summed_after = _vectors_summed_after(derivation, groups)
    needed = {g.operand for g in groups if not g.hoisted}
    for a in derivation.backward:
        if a.role == "param_matrix" or a.target in summed_after:
            continue
        if not a.terms and a.role == "state_prev":
            needed.add(a.target)
        for term in a.terms:
            if term.kind == "elementwise":
                needed |= {str(s) for s in term.expr.free_symbols}
    return tuple(n for n in derivation.cache if n in needed)


def _dims(cell: Cell) -> list[str]:
    """Lines reading each dimension's size off a parameter."""
    lines, seen = [], set()
    for p in cell.params:
        for axis, dim in enumerate(p.shape):
            if dim not in seen:
                seen.add(dim)
                lines.append(f"    {dim} = params[{p.name!r}].shape[{axis}]")
    return lines


def _slot_code(group: Group, slot: Slot, step: str) -> str:
    where = f"{step}, :, " if group.hoisted else ":, "
    return f"{group.maps}[{where}{slot.start}:{slot.stop}]"


def forward_code(derivation: Derivation, printer_for) -> str:
    """``forward(params, x, state0)``; ``printer_for(names)`` makes a NumPy printer whose
    symbols print through the ``names`` substitution."""
    cell = derivation.cell
    groups = plan_groups(derivation)
    group_of = {g.operand: g for g in groups}
    names = {slot.symbol: _slot_code(g, slot, "t") for g in groups for slot in g.slots}
    exprs = {s.target: s.expr for s in derivation.forward if not s.is_linear_map}
    biases = _hoist_biases(derivation, groups, exprs)
    sums = _fuse_sums(derivation, groups, exprs, names)
    printer = printer_for(names)
    x = cell.input[0]
    lines = [
        "def forward(params, x, state0=None):",
        f'    """Run T steps. x: (T, B, {cell.input[1]}); state0 {{name: (B, size)}} or None for zeros.',
        "",
        "    Returns (y, state_T, cache): y is (T, B, size) of OUTPUT at every step.",
        '    """',
        "    xs = x",
        "    steps, batch = xs.shape[0], xs.shape[1]",
        "    if state0 is None:",
        "        state0 = zero_state(params, batch, numpy.result_type(x, *params.values()))",
        "    dtype = numpy.result_type(x, *params.values(), *state0.values())",
        *[f"    {p.name} = params[{p.name!r}]" for p in cell.params],
        *_dims(cell),
        "    # linear maps that share an operand, stacked: one matrix product per operand",
    ]
    for g in groups:
        matrices = ", ".join(slot.matrix for slot in g.slots)
        # transposed once, contiguous: BLAS is much faster on it than on a transposed view
        lines.append(f"    {g.stack}_T = numpy.ascontiguousarray("
                     f"numpy.concatenate(({matrices},)).T)")
    for g in groups:
        if g.hoisted:
            lines.append("    # maps of the input do not depend on the state: all steps at once")
            lines.append(f"    {g.maps} = xs.reshape(steps * batch, xs.shape[2]) @ {g.stack}_T")
            lines.append(f"    {g.maps} = {g.maps}.reshape(steps, batch, {g.maps}.shape[1])")
            for slot in g.slots:
                for bias in biases.get(slot.symbol, ()):
                    lines.append(f"    {g.maps}[:, :, {slot.start}:{slot.stop}] += {bias}")
    lines += [
        f"    y = numpy.empty((steps, batch, {cell.dim_of(cell.output)}), dtype)",
        "    # forward values the backward pass reads, one list a name, one entry a step",
        "    kept = {" + ", ".join(f"{n!r}: []" for n in kept_names(derivation)) + "}",
        *[f"    {prev_name(s)} = state0[{s!r}]" for s in cell.state_names],
        "    for t in range(steps):",
    ]
    if any(sympy.Symbol(x) in e.free_symbols for e in exprs.values()) or x in kept_names(derivation):
        lines.append(f"        {x} = xs[t]")
    current = None
    for statement in derivation.forward:
        if statement.equation != current:
            current = statement.equation
            lines.append(f"        # {current}")
        if statement.is_linear_map:
            g = group_of[statement.operand]
            if not g.hoisted and statement.target == g.slots[0].symbol:
                lines.append(f"        {g.maps} = {g.operand} @ {g.stack}_T")
                for total, (hoisted, stepped) in sums.items():
                    if stepped is g:
                        lines.append(f"        {total} = {g.maps} + {hoisted.maps}[t]")
            continue
        lines.append(f"        {statement.target} = {printer.doprint(exprs[statement.target])}")
    lines += [
        *[f"        kept[{n!r}].append({names.get(n, n)})" for n in kept_names(derivation)],
        f"        y[t] = {cell.output}",
        *[f"        {prev_name(s)} = {s}" for s in cell.state_names],
    ]
    state_T = ", ".join(f"{s!r}: {prev_name(s)}" for s in cell.state_names)
    lines += [
        f"    state_T = {{{state_T}}}",
        '    cache = {"kept": kept, "xs": xs, "dtype": dtype}',
        "    return y, state_T, cache",
    ]
    return "\n".join(lines) + "\n"


def backward_code(derivation: Derivation, printer_for) -> str:
    cell = derivation.cell
    groups = plan_groups(derivation)
    group_of = {g.operand: g for g in groups}
    x = cell.input[0]
    buffered = {slot.adjoint for g in groups for slot in g.slots}
    summed_after = _vectors_summed_after(derivation, groups)
    printer = printer_for({})
    lines = [
        "def backward(params, cache, dy, d_state_T=None):",
        '    """Backprop through time. dy: (T, B, size) adjoint of y, or None; d_state_T:',
        "    {name: (B, size)} adjoints of the final state (missing names mean zero).",
        "",
        "    Returns (grads, dx, d_state0): grads has the keys of params, dx is (T, B, input size).",
        '    """',
        '    kept, xs = cache["kept"], cache["xs"]',
        "    steps, batch = xs.shape[0], xs.shape[1]",
        "    d_state_T = {} if d_state_T is None else d_state_T",
        '    dtype = numpy.result_type(cache["dtype"], *d_state_T.values(), '
        "*([] if dy is None else [dy]))",
        *[f"    {p.name} = params[{p.name!r}]" for p in cell.params],
        *_dims(cell),
        *[f"    {g.stack} = numpy.concatenate(({', '.join(s.matrix for s in g.slots)},))"
          for g in groups],
        "    # adjoints of the stacked maps, every step: the matrix gradients come after the loop",
    ]
    for buffer in dict.fromkeys(g.buffer for g in groups):
        size = groups[[g.buffer for g in groups].index(buffer)].slots[-1].stop
        lines.append(f"    {buffer} = numpy.zeros((steps, batch, {size}), dtype)")
    per_step_params = [a for a in derivation.backward
                       if a.role == "param_vector" and a.terms and a.target not in summed_after]
    lines += [f"    {adjoint_name(a.target)} = numpy.zeros_like({a.target}, dtype=dtype)"
              for a in per_step_params]
    lines.append("    dx = numpy.zeros(xs.shape, dtype)")
    lines.append("    # adjoints arriving at each step's new state from the step after it")
    for s, dim in cell.state:
        lines.append(f"    {adjoint_name(s)}_next = numpy.zeros((batch, {dim}), dtype) + "
                     f"d_state_T.get({s!r}, 0)")
    lines.append("    for t in reversed(range(steps)):")
    lines += [f"        {name} = xs[t]" if name == x else f"        {name} = kept[{name!r}][t]"
              for name in kept_names(derivation)]
    body, shown = [], set()
    for adjoint in derivation.backward:
        body += _step_adjoint(adjoint, derivation, groups, group_of, printer, summed_after,
                              buffered, shown)
    lines += ["        " + line for line in body]
    lines += [f"        {adjoint_name(s)}_next = {adjoint_name(prev_name(s))}"
              for s in cell.state_names]
    lines.append("    # one product over all steps per stacked group")
    lines.append("    flat = steps * batch")
    grads = {}
    for buffer in dict.fromkeys(g.buffer for g in groups):
        lines.append(f"    seq_{buffer} = {buffer}.reshape(flat, {buffer}.shape[2])")
    for g in groups:
        width = cell.dim_of(g.operand)
        source = "xs" if g.hoisted else f"numpy.array(kept[{g.operand!r}], dtype)"
        lines.append(f"    seq_{g.operand} = {source}.reshape(flat, {width})")
        lines.append(f"    d_{g.stack} = seq_{g.buffer}.T @ seq_{g.operand}")
        for slot in g.slots:
            term = f"d_{g.stack}[{slot.start}:{slot.stop}]"
            grads[slot.matrix] = f"{grads[slot.matrix]} + {term}" if slot.matrix in grads else term
        if g.hoisted:
            lines.append(f"    dx += (seq_{g.buffer} @ {g.stack}).reshape(xs.shape)")
    for name, (buffer, start, stop) in summed_after.items():
        grads[name] = f"{buffer}[:, :, {start}:{stop}].sum(axis=(0, 1))"
    for a in per_step_params:
        grads[a.target] = adjoint_name(a.target)
    items = []
    for p in cell.params:
        value = grads.get(p.name, f"numpy.zeros_like({p.name}, dtype=dtype)")
        items.append(f"        {p.name!r}: {value},")
    d_state0 = ", ".join(f"{s!r}: {adjoint_name(s)}_next" for s in cell.state_names)
    lines += ["    grads = {", *items, "    }", f"    d_state0 = {{{d_state0}}}",
              "    return grads, dx, d_state0"]
    return "\n".join(lines) + "\n"


def _vectors_summed_after(derivation: Derivation, groups) -> dict[str, tuple[str, str, str]]:
    """Vector parameters whose gradient is one stacked adjoint: summed once after the loop."""
    slot_of = {}
    for g in groups:
        for slot in g.slots:
            slot_of.setdefault(slot.adjoint, (g.buffer, slot.start, slot.stop))
    out = {}
    for a in derivation.backward:
        if a.role == "param_vector" and len(a.terms) == 1 and a.terms[0].kind == "elementwise":
            expr = a.terms[0].expr
            if isinstance(expr, sympy.Symbol) and expr.name in slot_of:
                out[a.target] = slot_of[expr.name]
    return out


def _step_adjoint(adjoint: Adjoint, derivation, groups, group_of, printer, summed_after,
                  buffered, shown) -> list[str]:
    """The loop body's lines for one adjoint of the derivation."""
    cell = derivation.cell
    name = adjoint_name(adjoint.target)
    if adjoint.role in ("param_matrix",) or adjoint.target in summed_after:
        return []  # after the loop
    elementwise = [t.expr for t in adjoint.terms if t.kind == "elementwise"]
    pieces = []
    if adjoint.seeded:
        seed = f"{name}_next"
        if adjoint.target == cell.output:
            seed = f"({seed} if dy is None else {seed} + dy[t])"
        pieces.append(seed)
    if elementwise:
        pieces.append(printer.doprint(sympy.Add(*elementwise)))
    lines = []
    if adjoint.equations and adjoint.equations[0] not in shown:
        shown.add(adjoint.equations[0])
        lines.append(f"# grad of: {adjoint.equations[0]}")
    if adjoint.role == "param_vector":
        if elementwise:
            lines.append(f"{name} += ({pieces[-1]}).sum(axis=0)")
        return lines
    if adjoint.role == "input":
        if elementwise:
            lines.append(f"dx[t] = {pieces[-1]}")
        return lines
    matmul_groups = dict.fromkeys(t.matrix for t in adjoint.terms if t.kind == "back_matmul")
    if matmul_groups:
        g = group_of[adjoint.target]
        pieces.append(f"{g.buffer}[t] @ {g.stack}")
    if not pieces:
        pieces.append(f"numpy.zeros_like({adjoint.target})")
    slots = [(g.buffer, slot) for g in groups for slot in g.slots if slot.adjoint == name]
    slots = list({(buffer, slot.start): (buffer, slot) for buffer, slot in slots}.values())
    single = elementwise[0] if len(pieces) == 1 and len(elementwise) == 1 else None
    if slots and isinstance(single, sympy.Mul) and len(single.args) > 1:
        # computed straight into the stacked buffer: no copy
        buffer, slot = slots.pop(0)
        *rest, last = single.args
        lines.append(f"{name} = {buffer}[t, :, {slot.start}:{slot.stop}]")
        lines.append(f"numpy.multiply({printer.doprint(sympy.Mul(*rest))}, "
                     f"{printer.doprint(last)}, out={name})")
    else:
        lines.append(f"{name} = {' + '.join(pieces)}")
    for buffer, slot in slots:
        lines.append(f"{buffer}[t, :, {slot.start}:{slot.stop}] = {name}")
    return lines
