"""The sequence printer: forward and backward through time, organised for speed.

The per-step arithmetic is the derivation's, printed by the same NumPy printer as the step
functions; what changes is where values live and when work happens, which ``plan`` decides. All of it follows from the
equation graph and the building-block table, never from knowing which cell this is. At small
sizes the cost is the number of NumPy calls a step, at large ones the matrix products and the
passes over memory; both are cut.

Forward:
- maps that share a right operand are stacked into one matrix, so each operand costs one product
  a step (the article's W ∈ R^{4D×(M+D)}, split by operand);
- maps of the input do not depend on the state: they run once, for all steps, before the loop,
  with the constant biases added there; each step adds its recurrent product (or the rows of it
  that pair with the input's) into that buffer in place;
- a gate whose pre-activation is its rows of that buffer, plus terms known at the step's start
  (a peephole V * c_prev), is computed in place (its derivative needs only its output).
  Adjacent gates share calls: functions with a tanh form (sigmoid(a) = 0.5 + 0.5*tanh(a/2)) as
  one tanh and a per-row scale and shift, the inner factor folded into the stacked rows before
  the loop;
- every value the backward reads is written, as it is computed, into a (T, B, size) array
  (a state into (T+1, B, size), entry 0 the initial state): nothing is copied or appended.

Backward:
- within a step every adjoint is linear in the adjoints computed before it, with coefficients
  (partial derivatives) that depend on forward values only. Those are computed before the loop
  for a block of steps at once (few calls, still in cache), so the loop does one multiply per
  (adjoint, source) pair; adjacent adjoints with one source are one broadcast multiply;
- an adjoint used once is not computed on its own: its coefficients multiply into its user's;
- the adjoints of a group's maps are written into one (T, B, K) buffer; after the loop one product
  over all steps gives the stacked matrix gradient and the input's adjoint, and a vector
  parameter's gradient is a sum over that buffer.
"""

from __future__ import annotations

import sympy

from derive.ad.adjoint import Derivation, Statement
from derive.ad.blocks import BLOCKS, block_of
from derive.ad.cell import Cell, prev_name
from derive.naming import ADJOINT_PREFIX, RESERVED, adjoint_name, fresh_name
from derive.targets.numpy.plan import Part, Plan, StepAdjoint, buffer_of, row_scales, tanh_run

# values an array of the backward's precomputed partial derivatives holds (a block of steps)
BLOCK_VALUES = 8192

# -- names and small printing helpers -------------------------------------------------------------


class Names:
    """Fresh names for generated arrays, never equal to a cell's name or to each other."""

    def __init__(self, derivation: Derivation):
        cell = derivation.cell
        self.taken = set(RESERVED) | {n for n, _ in cell.dims} | {p.name for p in cell.params}
        self.taken |= {s.target for s in derivation.forward}
        self.taken |= {adjoint_name(n) for n in set(self.taken)}

    def fresh(self, name: str) -> str:
        name = fresh_name(name, self.taken)
        self.taken.add(name)
        return name


def _dims(cell: Cell) -> list[str]:
    """Lines reading each dimension's size off a parameter."""
    lines, seen = [], set()
    for p in cell.params:
        for axis, dim in enumerate(p.shape):
            if dim not in seen:
                seen.add(dim)
                lines.append(f"    {dim} = params[{p.name!r}].shape[{axis}]")
    return lines


def _out(dest: str, expr: sympy.Expr, printer) -> str:
    """One statement computing ``expr`` into the existing array ``dest``: the last operation
    writes there, so no temporary is copied."""
    block = block_of(expr)
    if block is not None and block.numpy_out:
        return block.numpy_out.format(a=printer.doprint(expr.args[0]), out=dest)
    if isinstance(expr, (sympy.Add, sympy.Mul)) and len(expr.args) > 1:
        func = "add" if isinstance(expr, sympy.Add) else "multiply"
        *rest, last = expr.args
        return (f"numpy.{func}({printer.doprint(expr.func(*rest))}, {printer.doprint(last)}, "
                f"out={dest})")
    return f"{dest}[...] = {printer.doprint(expr)}"


def _out_of_pieces(dest: str, pieces: list[list[str]]) -> str:
    """Like ``_out`` for a sum of products already printed: [[factor, ...], ...]."""
    if len(pieces) == 1 and len(pieces[0]) == 2:
        return f"numpy.multiply({pieces[0][0]}, {pieces[0][1]}, out={dest})"
    if len(pieces) == 1:
        return f"{dest}[...] = {pieces[0][0]}"
    *rest, last = ["*".join(p) for p in pieces]
    return f"numpy.add({' + '.join(rest)}, {last}, out={dest})"


# -- forward ---------------------------------------------------------------------------------------


def forward_code(derivation: Derivation, plan: Plan, printer_for) -> str:
    """``forward(params, x, state0)``; ``printer_for(names)`` makes a NumPy printer whose
    symbols print through the ``names`` substitution."""
    return ForwardPrinter(derivation, plan, printer_for).code()


class ForwardPrinter:
    """Prints ``forward``: the stacked matrices and the input's maps, the arrays every kept value
    is written into, the loop (one statement of the derivation's program at a time), and the
    cache. Fresh names are taken in the order the function prints."""

    def __init__(self, derivation: Derivation, plan: Plan, printer_for):
        self.derivation, self.cell = derivation, derivation.cell
        self.plan = plan
        self.names = Names(derivation)
        self.states = set(self.cell.state_names)
        self.prevs = {prev_name(s): s for s in self.cell.state_names}
        slot_code = {}  # per-step code of every slot symbol still in an expression
        for symbol, (maps, start, stop, per_step) in plan.slot_code.items():
            slot_code[symbol] = (f"{maps}[t, :, {start}:{stop}]" if per_step
                                 else f"{maps}[:, {start}:{stop}]")
        self.printer = printer_for(slot_code)
        self.seq = {name: self.names.fresh(f"seq_{name}") for name in list(self.cell.state_names)
                    + [n for n in plan.kept if n not in self.prevs and n not in self.states]}
        self.run_views = {run: self.names.fresh("seq_" + "_".join(g.target for g in run))
                          for run in plan.runs if len(run) > 1}
        self.affine = {}  # run -> (scale code, shift code) after its tanh, or None
        for run in plan.runs:
            forms = [BLOCKS[gate.block].tanh_form for gate in run]
            if not tanh_run(run) or all(form[1:] == (1.0, 0.0) for form in forms):
                self.affine[run] = None
            elif len(set(forms)) == 1:
                self.affine[run] = (repr(forms[0][1]), repr(forms[0][2]))
            else:
                self.affine[run] = (self.names.fresh("gate_scale"), self.names.fresh("gate_shift"))
        self.gate_seq: dict[str, str] = {}  # gate -> its (T, B, size) view of the buffer
        self.gates_name = ""  # the per-step view a tanh run works on, named when first needed

    def code(self) -> str:
        lines = self.setup() + self.storage()
        lines += ["    for t in range(steps):", *["        " + line for line in self.body()]]
        return "\n".join(lines + self.epilogue()) + "\n"

    def setup(self) -> list[str]:
        """Parameters, sizes, the stacked matrices and the input's maps for all steps."""
        cell, plan = self.cell, self.plan
        lines = [
            "def forward(params, x, state0=None):",
            f'    """Run T steps. x: (T, B, {cell.input[1]}); state0: {{name: (B, size)}}, None or a missing',
            "    name meaning zeros.",
            "",
            "    Returns (y, state_T, cache): y is (T, B, size) of OUTPUT at every step.",
            '    """',
            "    xs = x",
            "    steps, batch = xs.shape[0], xs.shape[1]",
            "    state0 = {} if state0 is None else state0",
            "    dtype = numpy.result_type(x, *params.values(), *state0.values())",
            *[f"    {p.name} = params[{p.name!r}]" for p in cell.params],
            *_dims(cell),
            "    # linear maps that share an operand, stacked: one matrix product per operand",
        ]
        scales = row_scales(plan)
        rows_of = {p.name: p.shape[0] for p in cell.params}
        if scales:
            forms = dict.fromkeys(g.block for run in plan.runs if tanh_run(run) for g in run
                                  if BLOCKS[g.block].tanh_form[0] != 1)
            identities = ", ".join(f"{name}(a) = {shift!r} + {scale!r}*tanh({inner!r}*a)"
                                   for name in forms
                                   for inner, scale, shift in [BLOCKS[name].tanh_form])
            lines.append("    # gates are computed through tanh, their rows scaled by its inner factor:")
            lines.append(f"    # {identities}")
        for g in plan.groups:
            matrices = ", ".join(_scaled(scales.get((buffer_of(plan, g, slot), slot.start)),
                                         f"{slot.matrix}.T") for slot in g.slots)
            # transposed once, contiguous: BLAS is much faster on it than on a transposed view
            lines.append(f"    {g.stack}_T = numpy.concatenate(({matrices},), axis=1)")
        for g in plan.groups:
            if not g.hoisted:
                continue
            lines.append("    # maps of the input do not depend on the state: all steps at once")
            lines.append(f"    {g.maps} = (xs.reshape(steps * batch, xs.shape[2]) @ {g.stack}_T)"
                         ".astype(dtype, copy=False)")
            lines.append(f"    {g.maps} = {g.maps}.reshape(steps, batch, {g.maps}.shape[1])")
            rows = []
            for slot in g.slots:
                factor = scales.get((g.maps, slot.start))
                terms = [_scaled(factor, bias) for bias in plan.biases.get(slot.symbol, ())]
                rows.append(" + ".join(terms) or f"numpy.zeros({rows_of[slot.matrix]}, dtype)")
            if any(plan.biases.get(slot.symbol) for slot in g.slots):
                lines.append(f"    {g.maps} += numpy.concatenate(({', '.join(rows)},))")
        return lines

    def storage(self) -> list[str]:
        """The arrays the loop writes into, and the views of them it reads."""
        cell, plan, seq = self.cell, self.plan, self.seq
        lines = [f"    {g.maps} = numpy.empty((steps, batch, {g.slots[-1].stop}), dtype)"
                 for g in plan.groups if g.operand in plan.stored_maps]
        lines.append("    # what the backward reads, written in place as it is computed; a state's "
                     "entry 0 is its initial value")
        for s, dim in cell.state:
            lines.append(f"    {seq[s]} = numpy.empty((steps + 1, batch, {dim}), dtype)")
            lines.append(f"    {seq[s]}[0] = state0.get({s!r}, 0)")
        for n in plan.kept:
            if n in seq and n not in self.states and n not in plan.gates and n not in plan.slot_code:
                lines.append(f"    {seq[n]} = numpy.empty((steps, batch, "
                             f"{_dim(self.derivation, n)}), dtype)")
        for run, name in self.run_views.items():
            lines.append(f"    {name} = {run[0].maps}[:, :, {run[0].start}:{run[-1].stop}]")
        for run, codes in self.affine.items():
            if codes and not codes[0][0].isdigit():
                lines.append("    # each row's scale and shift, one copy per sample: the loop's "
                             "multiply and add then need no broadcasting")
                for code, k in zip(codes, (1, 2)):
                    values = ", ".join(repr(BLOCKS[gate.block].tanh_form[k]) for gate in run)
                    counts = ", ".join(cell.dim_of(gate.target) for gate in run)
                    lines.append(f"    {code} = numpy.tile(numpy.repeat(numpy.array([{values}], "
                                 f"dtype), [{counts}]), (batch, 1))")
        for gate in plan.gates.values():
            name = seq.get(gate.target) or self.names.fresh(f"seq_{gate.target}")
            self.gate_seq[gate.target] = name
            lines.append(f"    {name} = {gate.maps}[:, :, {gate.start}:{gate.stop}]")
        return lines

    def body(self) -> list[str]:
        """One step: the program's statements in order, gates of a run at its first."""
        plan, seq, x = self.plan, self.seq, self.cell.input[0]
        used = _used_in_step(plan.exprs)
        body = [f"{p} = {seq[s]}[t]" for p, s in self.prevs.items()
                if p in used or any(g.operand == p for g in plan.groups if not g.hoisted)]
        if x in used:
            body.append(f"{x} = xs[t]")
        shown, done_runs = set(), set()
        run_of = {gate.target: run for run in plan.runs for gate in run}
        equation_of = {s.target: s.equation for s in self.derivation.forward}
        pre_activations = {gate.pre for gate in plan.gates.values()}
        for statement in self.derivation.forward:
            target = statement.target
            if statement.is_linear_map:
                body += self.product_lines(statement)
                continue
            if target in pre_activations:
                continue
            run = run_of.get(target, ())
            for equation in [statement.equation] + [equation_of[g.target] for g in run]:
                if equation not in shown:
                    shown.add(equation)
                    body.append(f"# {equation}")
            if target in plan.gates:
                if run not in done_runs:
                    done_runs.add(run)
                    body += self.run_lines(run)
                if target in used or target in self.states:
                    body.append(f"{target} = {self.gate_seq[target]}[t]")
            elif target in self.states:
                body.append(f"{target} = {seq[target]}[t + 1]")
                body.append(_out(target, plan.exprs[target], self.printer))
            elif target in seq:
                body.append(f"{target} = {seq[target]}[t]")
                body.append(_out(target, plan.exprs[target], self.printer))
            else:
                body.append(f"{target} = {self.printer.doprint(plan.exprs[target])}")
        return body

    def product_lines(self, statement: Statement) -> list[str]:
        """A group's product, once a step, at its first map; the input's maps came before."""
        plan = self.plan
        g = next(g for g in plan.groups if g.operand == statement.operand)
        if g.hoisted or statement.target != g.slots[0].symbol:
            return []
        maps = ", ".join(f"{slot.matrix} @ {g.operand}" for slot in g.slots)
        product = f"numpy.dot({g.operand}, {g.stack}_T)"
        hoisted, symbols = plan.fused.get(g.operand, (None, frozenset()))
        if len(symbols) == len(g.slots) == len(hoisted.slots if hoisted else ()):  # every row
            return [f"# {maps}: one product, added to the input's maps in place",
                    f"numpy.add({hoisted.maps}[t], {product}, out={hoisted.maps}[t])"]
        if g.operand in plan.stored_maps:
            lines = [f"# {maps}: one product",
                     f"numpy.matmul({g.operand}, {g.stack}_T, out={g.maps}[t])"]
            own = f"{g.maps}[t, :, "
        else:
            lines = [f"# {maps}: one product", f"{g.maps} = {product}"]
            own = f"{g.maps}[:, "
        ranges = _row_ranges([slot for slot in g.slots if slot.symbol in symbols])
        if ranges:
            rows = ", ".join(f"{start}:{stop}" for start, stop in ranges)
            lines[0] += f"; rows {rows} added to the input's maps in place"
        for start, stop in ranges:
            into = f"{hoisted.maps}[t, :, {start}:{stop}]"
            lines.append(f"numpy.add({into}, {own}{start}:{stop}], out={into})")
        return lines

    def run_lines(self, run) -> list[str]:
        """The loop's lines computing a run of gates in place over their rows: first the terms
        each adds to its rows (scaled like its rows), then the activations."""
        return self.extra_lines(run) + self.activation_lines(run)

    def extra_lines(self, run) -> list[str]:
        lines = []
        for gate in run:
            if gate.extra == 0:
                continue
            inner = BLOCKS[gate.block].tanh_form[0] if tanh_run(run) else 1.0
            extra = gate.extra if inner == 1 else sympy.Float(inner) * gate.extra
            rows = f"{self.gate_seq[gate.target]}[t]"
            lines.append(f"numpy.add({rows}, {self.printer.doprint(extra)}, out={rows})")
        return lines

    def activation_lines(self, run) -> list[str]:
        view = self.run_views.get(run, self.gate_seq[run[0].target])
        targets = ", ".join(gate.target for gate in run)
        if not tanh_run(run):
            head = [f"# {targets}: {run[0].block} over their rows, one call, in place"] * (len(run) > 1)
            return head + [BLOCKS[run[0].block].numpy_out.format(a=f"{view}[t]", out=f"{view}[t]")]
        affine = self.affine[run]
        if affine is None:
            head = [f"# {targets}: tanh over their rows, one call, in place"] * (len(run) > 1)
            return head + [f"numpy.tanh({view}[t], out={view}[t])"]
        self.gates_name = self.gates_name or self.names.fresh("gates")
        gates = self.gates_name
        what = ("one tanh over their rows, in place, then each row's scale and shift"
                if len(run) > 1 else "a tanh over its rows, in place, then a scale and shift")
        return [
            f"# {targets}: {what}",
            f"{gates} = {view}[t]",
            f"numpy.tanh({gates}, out={gates})",
            f"numpy.multiply({gates}, {affine[0]}, out={gates})",
            f"numpy.add({gates}, {affine[1]}, out={gates})",
        ]

    def epilogue(self) -> list[str]:
        """The output, the final state and the cache: views of the arrays, nothing copied."""
        cell, plan, seq = self.cell, self.plan, self.seq
        kept = {}
        for n in plan.kept:
            if n in self.prevs:
                kept[n] = f"{seq[self.prevs[n]]}[:-1]"
            elif n in self.states:
                kept[n] = f"{seq[n]}[1:]"
            elif n in plan.gates:
                kept[n] = self.gate_seq[n]
            elif n in plan.slot_code:
                maps, start, stop, _ = plan.slot_code[n]
                kept[n] = f"{maps}[:, :, {start}:{stop}]"
            else:
                kept[n] = seq[n]
        state_T = ", ".join(f"{s!r}: {seq[s]}[steps]" for s in cell.state_names)
        return [
            f"    y = {seq[cell.output]}[1:]",
            f"    state_T = {{{state_T}}}",
            "    kept = {" + ", ".join(f"{n!r}: {code}" for n, code in kept.items()) + "}",
            '    cache = {"kept": kept, "xs": xs, "dtype": dtype}',
            "    return y, state_T, cache",
        ]


def _row_ranges(slots) -> list[tuple[str, str]]:
    """Adjacent slots merged: [(start, stop), ...]."""
    ranges: list[list[str]] = []
    for slot in slots:
        if ranges and ranges[-1][1] == slot.start:
            ranges[-1][1] = slot.stop
        else:
            ranges.append([slot.start, slot.stop])
    return [tuple(r) for r in ranges]


def _used_in_step(exprs: dict) -> set[str]:
    return {symbol.name for expr in exprs.values() for symbol in expr.free_symbols}


def _dim(derivation: Derivation, name: str) -> str:
    """A value's dimension; a pre-activation has its gate's."""
    dims = dict(derivation.cell.dims)
    if name in dims:
        return dims[name]
    for s in derivation.forward:
        if not s.is_linear_map and block_of(s.expr) and s.expr.args[0] == sympy.Symbol(name):
            return dims[s.target]
    raise KeyError(name)


def _scaled(factor: float | None, name: str) -> str:
    return name if factor is None else f"{factor!r}*{name}"


# -- backward --------------------------------------------------------------------------------------


def backward_code(derivation: Derivation, plan: Plan, printer_for) -> str:
    return BackwardPrinter(derivation, plan, printer_for).code()


class BackwardPrinter:
    """Prints ``backward``: the setup, the loop over blocks of steps (their partial derivatives,
    then each step's adjoints), and the products and sums after the loop.

    Coefficients print three ways: a number stays in the loop, a kept value is read per step,
    anything else is computed for the block before its steps. Fresh names are taken in the order
    the function prints, so the same derivation always gives the same text.
    """

    def __init__(self, derivation: Derivation, plan: Plan, printer_for):
        self.derivation, self.cell, self.printer_for = derivation, derivation.cell, printer_for
        self.plan = plan
        self.names = Names(derivation)
        self.x = self.cell.input[0]
        self.seq = {self.x: "xs", **{n: self.names.fresh(f"seq_{n}") for n in plan.kept}}
        computed = {s.name for s in plan.steps}
        self.slot_views = {}  # adjoint -> [(buffer, start, stop)], its first place first
        for g in plan.groups:
            for slot in g.slots:
                place = (g.buffer, slot.start, slot.stop)
                if place not in self.slot_views.setdefault(slot.adjoint, []):
                    self.slot_views[slot.adjoint].append(place)
        self.adjoint_seq = {name: self.names.fresh(f"seq_{name}") for name in self.slot_views
                            if name in computed}
        self.coefficients: dict[sympy.Expr, tuple[str, str]] = {}  # expr -> (name, comment)
        self.block, self.start, self.stop, self.k = (
            self.names.fresh(n) for n in ("block", "start", "stop", "k"))
        self.blocked = any(_precomputed(part.coefficient, self.seq)
                           for s in plan.steps for part in s.parts)
        self.in_block: set[str] = set()  # kept values a block reads, bound to its slice
        self.per_step_sums = {t: parts for t, parts in plan.sums.items()
                              if not _summed_after(parts, self.adjoint_seq)}
        self.later_sources = {part.source for s in plan.steps for part in s.parts}
        self.later_sources |= {part.source for parts in self.per_step_sums.values()
                               for part in parts}
        # adjoints whose (T, B, size) view something reads: after the loop, the sums over it
        # (a bias, one part times 1, reads the buffer's column sums instead)
        self.viewed = {part.source for target, parts in plan.sums.items()
                       if target not in self.per_step_sums
                       and (target == self.x or _bias(parts) is None) for part in parts}
        self.family_stacks: list[str] = []  # per block: stacked coefficients of each family
        self.family_views: list[str] = []  # before the loop: each family's (T, B, n, size) view

    def code(self) -> str:
        body = self.body()
        return "\n".join(self.setup() + self.loop(body) + self.after_loop()) + "\n"

    # -- the loop body ----------------------------------------------------------------------------

    def factors(self, part: Part, target: str) -> list[str]:
        """``part`` as the factors of one product, printed for step t of the loop."""
        number, rest = part.coefficient.as_coeff_Mul()
        source = self.printer_for({}).doprint(number * sympy.Symbol(part.source))
        if rest == 1:
            return [source]
        if isinstance(rest, sympy.Symbol) and rest.name in self.seq:
            if self.blocked:
                self.in_block.add(rest.name)
                return [source, f"{rest.name}[{self.k}]"]
            return [source, f"{self.seq[rest.name]}[t]"]
        if not {symbol.name for symbol in rest.free_symbols} & set(self.seq):
            return [source, self.printer_for({}).doprint(rest)]  # parameters and numbers only
        return [source, f"{self.coefficient(rest, part.source, target)}[{self.k}]"]

    def coefficient(self, expr: sympy.Expr, source: str, target: str) -> str:
        """The name of the block array holding ``expr``, ∂source/∂target."""
        if expr not in self.coefficients:
            self.in_block.update(s.name for s in expr.free_symbols if s.name in self.seq)
            base = source[len(ADJOINT_PREFIX):]
            self.coefficients[expr] = (self.names.fresh(f"seq_d{base}_d{target}"),
                                       f"∂{base}/∂{target}")
        return self.coefficients[expr][0]

    def body(self) -> list[str]:
        row_dims = {p.name: p.shape[0] for p in self.cell.params}
        families = (_families(self.plan, self.slot_views, self.seq, row_dims) if self.blocked
                    else [])
        family_of = {step.name: family for family in families for step in family}
        body, shown, done = [], set(), set()
        for step in self.plan.steps:
            family = family_of.get(step.name)
            for equation in [e for member in family or [step] for e in member.equations]:
                if equation not in shown:
                    shown.add(equation)
                    body.append(f"# grad of: {equation}")
            if family is None:
                body += self.step_lines(step)
            elif family not in done:
                done.add(family)
                body += self.family_lines(family)
        for target, parts in self.per_step_sums.items():
            total = " + ".join("*".join(self.factors(part, target)) for part in parts)
            if target == self.x:
                body.append(f"dx[t] = {total}")
            else:
                body.append(f"{adjoint_name(target)} += ({total}).sum(axis=0)")
        body += [f"{adjoint_name(s)}_next = {adjoint_name(prev_name(s))}"
                 for s in self.cell.state_names]
        return body

    def step_lines(self, step: StepAdjoint) -> list[str]:
        """One adjoint: written straight into its rows of the buffer when it has some."""
        pieces = []
        if step.seeded:
            seed = f"{step.name}_next"
            if step.target == self.cell.output:
                seed = f"({seed} if dy is None else {seed} + dy[t])"
            pieces.append([seed])
        pieces += [self.factors(part, step.target) for part in step.parts]
        if step.matmul is not None:
            pieces.append([f"numpy.dot({step.matmul.buffer}[t], {step.matmul.stack})"])
        if not pieces:
            pieces.append([f"numpy.zeros((batch, {self.cell.dim_of(step.target)}), dtype)"])
        if step.name not in self.adjoint_seq:
            return [f"{step.name} = {' + '.join('*'.join(p) for p in pieces)}"]
        self.viewed.add(step.name)
        lines, view = [], f"{self.adjoint_seq[step.name]}[t]"
        copies = self.slot_views[step.name][1:]
        if step.name in self.later_sources or copies:
            lines.append(f"{step.name} = {view}")
            view = step.name
        lines.append(_out_of_pieces(view, pieces))
        lines += [f"{buffer}[t, :, {start}:{stop}] = {step.name}" for buffer, start, stop in copies]
        return lines

    def family_lines(self, family: tuple[StepAdjoint, ...]) -> list[str]:
        """Adjoints on adjacent rows, one source times each one's coefficient: one broadcast
        multiply, over a (B, n, size) view of their rows."""
        source = family[0].parts[0].source
        names = [self.coefficient(m.parts[0].coefficient, source, m.target) for m in family]
        stacked = self.names.fresh(f"seq_d{source[len(ADJOINT_PREFIX):]}_d"
                                   + "_".join(member.target for member in family))
        view = self.names.fresh("seq_" + "_".join(member.name for member in family))
        self.family_stacks.append(f"{stacked} = numpy.stack(({', '.join(names)},), axis=2)")
        (buffer, start, _), (_, _, stop) = (self.slot_views[family[0].name][0],
                                            self.slot_views[family[-1].name][0])
        width = _dim(self.derivation, family[0].target)
        self.family_views.append(f"{view} = {buffer}[:, :, {start}:{stop}]"
                                 f".reshape(steps, batch, {len(family)}, {width})")
        read = [m.name for m in family if m.name in self.later_sources]
        self.viewed.update(read)
        return [f"numpy.multiply({source}[:, None], {stacked}[{self.k}], out={view}[t])",
                *[f"{name} = {self.adjoint_seq[name]}[t]" for name in read]]

    # -- around the loop --------------------------------------------------------------------------

    def setup(self) -> list[str]:
        cell, plan, x = self.cell, self.plan, self.x
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
              for g in plan.groups],
            *[f"    {self.seq[n]} = kept[{n!r}]" for n in plan.kept],
            "    # adjoints of the stacked maps, every step: the matrix gradients come after the loop",
        ]
        for buffer in dict.fromkeys(g.buffer for g in plan.groups):
            group = next(g for g in plan.groups if g.buffer == buffer)
            every_slot = all(slot.adjoint in self.adjoint_seq for slot in group.slots)
            make = "empty" if every_slot else "zeros"
            lines.append(f"    {buffer} = numpy.{make}((steps, batch, {group.slots[-1].stop}), dtype)")
        for name, view in self.adjoint_seq.items():
            if name in self.viewed:
                buffer, start, stop = self.slot_views[name][0]
                lines.append(f"    {view} = {buffer}[:, :, {start}:{stop}]")
        lines += ["    " + line for line in self.family_views]
        lines += [f"    {adjoint_name(t)} = numpy.zeros_like({t}, dtype=dtype)"
                  for t in self.per_step_sums if t != x]
        if x in self.per_step_sums:
            lines.append("    dx = numpy.zeros(xs.shape, dtype)")
        lines.append("    # adjoints arriving at each step's new state from the step after it")
        for s, dim in cell.state:
            lines.append(f"    {adjoint_name(s)}_next = numpy.zeros((batch, {dim}), dtype) + "
                         f"d_state_T.get({s!r}, 0)")
        return lines

    def loop(self, body: list[str]) -> list[str]:
        if not self.blocked:
            return ["    for t in reversed(range(steps)):", *["        " + line for line in body]]
        block, start, stop = self.block, self.start, self.stop
        return [
            "    # the step's partial derivatives depend on forward values only: computed for a block",
            f"    # of steps at once, {BLOCK_VALUES} values an array, few calls and still in cache",
            f"    {block} = max(1, {BLOCK_VALUES} // (batch * {self.cell.dim_of(self.cell.output)}))",
            f"    for {stop} in range(steps, 0, -{block}):",
            f"        {start} = max({stop} - {block}, 0)",
            *[f"        {n} = {self.seq[n]}[{start}:{stop}]" for n in self.seq if n in self.in_block],
            *["    " + line for line in _coefficient_lines(self.coefficients, self.names,
                                                          self.printer_for)],
            *["        " + line for line in self.family_stacks],
            f"        for t in reversed(range({start}, {stop})):",
            f"            {self.k} = t - {start}",
            *["            " + line for line in body],
        ]

    def after_loop(self) -> list[str]:
        """Matrix gradients and the input's adjoint as one product each over all steps; vector
        gradients as sums over the buffers."""
        cell, plan, x = self.cell, self.plan, self.x
        lines = ["    # one product over all steps per stacked group", "    flat = steps * batch"]
        grads, dx = {}, ["dx"] if x in self.per_step_sums else []
        flat = {buffer: self.names.fresh(f"flat_{buffer}") for buffer in
                dict.fromkeys(g.buffer for g in plan.groups)}
        for buffer, name in flat.items():
            lines.append(f"    {name} = {buffer}.reshape(flat, {buffer}.shape[2])")
        for g in plan.groups:
            source = "xs" if g.hoisted else self.seq[g.operand]
            lines.append(f"    d_{g.stack} = {flat[g.buffer]}.T @ "
                         f"{source}.reshape(flat, {cell.dim_of(g.operand)})")
            for slot in g.slots:
                term = f"d_{g.stack}[{slot.start}:{slot.stop}]"
                grads[slot.matrix] = f"{grads[slot.matrix]} + {term}" if slot.matrix in grads else term
            if g.hoisted:
                dx.append(f"({flat[g.buffer]} @ {g.stack}).reshape(xs.shape)")
        after = self.printer_for({**self.seq, **self.adjoint_seq})
        column_sums = {}
        for target, parts in plan.sums.items():
            if target in self.per_step_sums:
                if target != x:
                    grads[target] = adjoint_name(target)
                continue
            total = sympy.Add(*[sympy.Symbol(p.source) * p.coefficient for p in parts])
            if target == x:
                dx.append(after.doprint(total))
            elif _bias(parts):  # its rows of the buffer's column sums
                buffer, start, stop = self.slot_views[_bias(parts)][0]
                if buffer not in column_sums:
                    column_sums[buffer] = self.names.fresh(f"sum_{buffer}")
                    lines.append(f"    {column_sums[buffer]} = {flat[buffer]}.sum(axis=0)")
                grads[target] = f"{column_sums[buffer]}[{start}:{stop}]"
            else:
                grads[target] = f"({after.doprint(total)}).sum(axis=(0, 1))"
        lines.append(f"    dx = {' + '.join(dx) if dx else 'numpy.zeros(xs.shape, dtype)'}")
        items = [f"        {p.name!r}: {grads.get(p.name, f'numpy.zeros_like({p.name}, dtype=dtype)')},"
                 for p in cell.params]
        d_state0 = ", ".join(f"{s!r}: {adjoint_name(s)}_next" for s in cell.state_names)
        return lines + ["    grads = {", *items, "    }", f"    d_state0 = {{{d_state0}}}",
                        "    return grads, dx, d_state0"]


def _families(plan: Plan, slot_views: dict, seq: dict, row_dims: dict) -> list[tuple]:
    """Adjoints on adjacent rows of one buffer, all of one width, each the same source adjoint
    times its own precomputed coefficient: one broadcast multiply computes them all.
    ``row_dims``: matrix -> the dimension of its rows."""
    rows = {}  # adjoint -> (buffer, position in its group, width)
    for g in plan.groups:
        for position, slot in enumerate(g.slots):
            rows.setdefault(slot.adjoint, (g.buffer, position, row_dims[slot.matrix]))
    members = [step for step in plan.steps
               if not step.seeded and step.matmul is None and len(step.parts) == 1
               and len(slot_views.get(step.name, ())) == 1 and step.name in rows
               and step.parts[0].coefficient.as_coeff_Mul()[0] == 1
               and _precomputed(step.parts[0].coefficient, seq)]
    members.sort(key=lambda step: rows[step.name][:2])
    families: list[list[StepAdjoint]] = []
    for step in members:
        last = families[-1][-1] if families else None
        (buffer, position, width) = rows[step.name]
        if (last and rows[last.name] == (buffer, position - 1, width)
                and last.parts[0].source == step.parts[0].source):
            families[-1].append(step)
        else:
            families.append([step])
    return [tuple(family) for family in families if len(family) > 1]  # in row order


def _precomputed(coefficient: sympy.Expr, seq: dict) -> bool:
    """A coefficient computed before the step: one that is more than a number, a parameter or
    a kept value read as it is."""
    rest = coefficient.as_coeff_Mul()[1]
    return not isinstance(rest, sympy.Symbol) and any(s.name in seq for s in rest.free_symbols)


def _coefficient_lines(coefficients: dict, names_: Names, printer_for) -> list[str]:
    """The coefficients over a block of steps, subexpressions they share computed once; the
    kept values they read are bound to the block's slices under their own names."""
    shared, reduced = sympy.cse(list(coefficients), symbols=sympy.numbered_symbols("_shared"),
                                order="none")
    substitutions = {}
    lines = []
    for symbol, expr in shared:
        block = block_of(expr)
        base = (f"seq_{block.name}_{expr.args[0]}" if block is not None
                and isinstance(expr.args[0], sympy.Symbol) else "seq_shared")
        name = names_.fresh(base)
        lines.append(f"    {name} = {printer_for(substitutions).doprint(expr)}")
        substitutions[symbol.name] = name
    for (name, comment), expr in zip(coefficients.values(), reduced):
        lines.append(f"    # {comment}")
        lines.append(f"    {name} = {printer_for(substitutions).doprint(expr)}")
    return lines


def _bias(parts) -> str | None:
    """The one adjoint a bias-like gradient sums unchanged (one part, coefficient 1), or None."""
    return parts[0].source if len(parts) == 1 and parts[0].coefficient == 1 else None


def _summed_after(parts, adjoint_seq) -> bool:
    """A sum over steps can wait for the loop's end when every source is kept over time."""
    return all(part.source in adjoint_seq for part in parts)
