"""The PyTorch printer of the loop IR: the NumPy printer's statements where torch spells them
alike, one ``_print_<Node>`` method each where it does not.

Arrays are tensors created in the local ``dtype`` on the device of the input ``xs`` (a fixed
local of every sequence function, see ``derive/targets/bound.py``), so the code runs wherever
its arguments live. Writing into a view (``out=``, ``+=``, ``[...] =``) works as in NumPy; the
autograd.Function runs these functions with autograd off, so in-place writes cost no graph.
"""

from __future__ import annotations

from types import MappingProxyType

import sympy

from derive.ad.blocks import BLOCKS, block_of
from derive.targets import ir
from derive.targets.compiled.ranks import infer_ranks
from derive.targets.numpy.printer import NumPyCodePrinter
from derive.targets.lower.rewrites import names_read
from derive.targets.torch import kernels, loops

# each building block of derive/ad/blocks.py as a torch call ({a}: its argument), and into {out}
FUNCTIONS = MappingProxyType({
    "sigmoid": "torch.sigmoid({a})", "tanh": "torch.tanh({a})", "exp": "torch.exp({a})",
    "log": "torch.log({a})",
})
FUNCTIONS_OUT = MappingProxyType({name: call.replace("})", "}, out={out})")
                                  for name, call in FUNCTIONS.items()})
assert set(FUNCTIONS) == set(BLOCKS), "every building block needs its torch call"


class TorchCodePrinter(NumPyCodePrinter):
    """Prints IR as torch code."""

    functions = FUNCTIONS
    functions_out = FUNCTIONS_OUT
    device = "xs.device"

    def _like(self) -> str:
        return f"dtype={self.dtype}, device={self.device}"

    def _print_Allocate(self, node: ir.Allocate) -> list[str]:
        make = "zeros" if node.zeros else "empty"
        return [f"{node.name} = torch.{make}({self._shape(node.shape)}, {self._like()})"]

    def _print_ZerosLike(self, node: ir.ZerosLike) -> list[str]:
        dtype = f", dtype={self.dtype}" if node.in_dtype else ""
        return [f"{node.name} = torch.zeros_like({self.ref(node.like)}{dtype})"]

    def _print_Copy(self, node: ir.Copy) -> list[str]:
        return [f"{node.name} = {self.ref(node.ref)}.clone()"]

    def _print_Stack(self, node: ir.Stack) -> list[str]:
        if node.transpose:
            parts = ", ".join(self.ref(r) + ".T" if s is None else f"{s!r}*{self.ref(r)}.T"
                              for r, s in node.parts)
            return [f"{node.name} = torch.cat(({parts},), dim=1)"]
        parts = ", ".join(self._scaled(part) for part in node.parts)
        return [f"{node.name} = torch.cat(({parts},))"]

    def _print_StackAxis(self, node: ir.StackAxis) -> list[str]:
        parts = ", ".join(self.ref(r) for r in node.parts)
        return [f"{node.name} = torch.stack(({parts},), dim={node.axis})"]

    def _print_RowConstants(self, node: ir.RowConstants) -> list[str]:
        values = ", ".join(repr(v) for v in node.values)
        counts = ", ".join(self.size(c) for c in node.counts)
        name, device = node.name, self.device
        # output_size: the length known here, so no device reads it back (a sync on a GPU; the
        # meta device cannot at all)
        total = self.size(sum(node.counts))
        call = f"{name} = {name}.repeat_interleave("
        lines = [f"{name} = torch.tensor([{values}], {self._like()})",
                 f"{call}torch.tensor([{counts}], device={device}),",
                 f"{' ' * len(call)}output_size={total})"]
        if node.batch == 1:  # one row, broadcast
            return lines
        return lines + [f"{name} = {name}.repeat({self.size(node.batch)}, 1)"]

    def _print_AddRows(self, node: ir.AddRows) -> list[str]:
        rows = [" + ".join(self._scaled(part) for part in row)
                or f"torch.zeros({self.size(size)}, {self._like()})"
                for row, size in zip(node.rows, node.sizes)]
        return [f"{self.ref(node.out)} += torch.cat(({', '.join(rows)},))"]

    def _print_MatMul(self, node: ir.MatMul) -> list[str]:
        a = self.ref(node.a) + (".T" if node.transpose_a else "")
        b = self.ref(node.b) + (".T" if node.transpose_b else "")
        out = self.ref(node.out)
        if node.new:
            if node.cast:
                return [f"{out} = ({a} @ {b}).to({self.dtype})"]
            return [f"{out} = {a} @ {b}"]
        if node.accumulate:  # out += a @ b, as one fused call
            return [f"{out}.addmm_({a}, {b})"]
        return [f"torch.matmul({a}, {b}, out={out})"]

    def _print_Elementwise(self, node: ir.Elementwise) -> list[str]:
        expr = node.expr
        if node.new or node.accumulate or block_of(expr) is not None:
            return super()._print_Elementwise(node)
        if isinstance(expr, (sympy.Add, sympy.Mul)) and len(expr.args) > 1:
            # torch.add/mul take a tensor first: a number goes last (both are commutative)
            *rest, last = sorted(expr.args, key=lambda a: bool(a.is_Number))
            first = expr.func(*rest, evaluate=False) if len(rest) > 1 else rest[0]
            func = "add" if isinstance(expr, sympy.Add) else "mul"
            return [f"torch.{func}({self.expr(first, node.places)}, "
                    f"{self.expr(last, node.places)}, out={self.ref(node.out)})"]
        return super()._print_Elementwise(node)

    def _print_Activate(self, node: ir.Activate) -> list[str]:
        view = self.ref(node.view)
        if node.scale is None and node.shift is None:
            return [self.functions_out[node.function].format(a=view, out=view)]
        scale = self.ref(node.scale) if isinstance(node.scale, ir.Ref) else repr(node.scale)
        shift = self.ref(node.shift) if isinstance(node.shift, ir.Ref) else repr(node.shift)
        return [f"{view}.tanh_().mul_({scale}).add_({shift})"]

    def _print_Reduce(self, node: ir.Reduce) -> list[str]:
        value = self.expr(node.expr, node.places)
        if not isinstance(node.expr, sympy.Symbol):
            value = f"({value})"
        axes = node.axes[0] if len(node.axes) == 1 else node.axes
        return [f"{node.name} {'+=' if node.accumulate else '='} {value}.sum(dim={axes})"]


class FusingTorchCodePrinter(TorchCodePrinter):
    """As ``TorchCodePrinter``, and each run of elementwise statements inside a time loop also
    as a call of a fused C++ kernel (``kernels.py``), collected in ``kernels``:

        if fused is None:
            <the torch operations>
        else:
            fused.forward_1(<the views it reads and writes>)

    ``fused`` is bound once before a function's first such loop (``_fused(xs, params, ...)``,
    given every argument of the function: the compiled kernels, or None where they do not
    run). A whole time loop that ``loops.py`` can print as C++ is one call instead (its runs
    fused there, called from C++):

        if fused is None:
            <the loop, torch operations>
        else:
            fused.forward_loop(<what it reads>)

    Kernels are named after their function, runs numbered in the order they are printed
    (``backward_2``), loops ``backward_loop``; ``exported`` names those Python calls."""

    def __init__(self):
        self.kernels: list = []  # kernels.Kernel and loops.LoopKernel, in the source's order
        self.exported: list[str] = []
        self.kinds: dict[str, str | None] = {}  # names bound so far at the function's top level
        self.loop_depth = 0
        self.ranks_at: dict[int, dict[str, int]] = {}
        self.function = ""
        self.fused_bound = False
        self.count = 0  # kernels of the function being printed
        self.operations_only = False  # while printing the torch side of a loop kernel

    def _print_Function(self, node: ir.Function) -> list[str]:
        self.ranks_at, self.function, self.fused_bound = infer_ranks(node), node.name, False
        self.count = 0
        self.kinds = {}
        # _fused's arguments: what the loops run over, the parameters, every other argument
        # (the kernels must not run when autograd records any of them)
        others = [a.partition("=")[0] for a in node.args if a not in ("params", "x", "xs")]
        self.fused_args = ", ".join(["xs", "params", *others])
        kinds = {"dy": loops.OPTIONAL, "x": loops.TENSOR, "xs": loops.TENSOR}
        for arg in node.args:  # the sequence functions' arguments a loop may read
            name = arg.partition("=")[0]
            self.kinds[name] = kinds.get(name)
        return super()._print_Function(node)

    def _print_Loop(self, node: ir.Loop) -> list[str]:
        self.loop_depth += 1
        try:
            return super()._print_Loop(node)
        finally:
            self.loop_depth -= 1

    def _print_BlockLoop(self, node: ir.BlockLoop) -> list[str]:
        """As NumPy's; with fused kernels in it, blocks of FUSED_BLOCK_VALUES values then."""
        before = len(self.kernels)
        self.loop_depth += 1
        try:
            lines = super()._print_BlockLoop(node)
        finally:
            self.loop_depth -= 1
        if len(self.kernels) > before:
            per_step = self.size(node.per_step)
            lines[0] = (f"{node.size} = max(1, (BLOCK_VALUES if fused is None else "
                        f"FUSED_BLOCK_VALUES) // max(1, {per_step}))")
        return lines

    def block(self, body) -> list[str]:
        lines: list[str] = []
        if self.loop_depth == 0:
            comments: list[str] = []  # those right before a loop are the loop's
            for n, node in enumerate(body):
                if isinstance(node, ir.Comment):
                    comments += self.lines(node)
                    continue
                before = len(self.kernels)
                if isinstance(node, (ir.Loop, ir.BlockLoop)):
                    printed = self._loop(node, names_read(tuple(body[n + 1:])), comments)
                else:
                    printed = comments + self.lines(node)
                comments = []
                self.kinds.update(loops.kinds_bound(node))
                if len(self.kernels) > before and not self.fused_bound:
                    self.fused_bound = True
                    printed = ["# the fused C++ kernels of the loops below, or None (then torch "
                               "operations run)", f"fused = _fused({self.fused_args})", *printed]
                lines += printed
            lines += comments
        else:
            lines = [line for item in ir.split_runs(body)
                     for line in (self._run(item) if isinstance(item, list) else self.lines(item))]
        return [self.indent + line if line else line for line in lines]

    def _loop(self, node, read_after: set[str], comments: list[str]) -> list[str]:
        """A time loop (under ``comments``) as one C++ call beside its torch operations, or
        (``Unfusable``) as a Python loop whose runs are fused one by one."""
        count = self.count

        def run_name():
            self.count += 1
            return f"{self.function}_{self.count}"
        loops_before = sum(isinstance(k, loops.LoopKernel) and k.name.startswith(self.function)
                           for k in self.kernels)
        name = f"{self.function}_loop" + (f"_{loops_before + 1}" if loops_before else "")
        printer = loops.CppLoopPrinter(name, self.kinds, self.ranks_at, run_name)
        try:
            loop = printer.make(node, read_after)
        except kernels.Unfusable:
            self.count = count
            return comments + self.lines(node)
        self.kernels += [*printer.runs, loop]
        self.exported.append(name)
        self.operations_only = True
        try:
            plain = self.lines(node)
        finally:
            self.operations_only = False
        call = f"fused.{name}({', '.join(loop.args)})"
        if len(loop.returns) == 1:
            call = f"{loop.returns[0]} = {call}[0]"
        elif loop.returns:
            call = f"{', '.join(loop.returns)} = {call}"
        return ["if fused is None:", *[self.indent + line for line in comments + plain], "else:",
                self.indent + f"# the loop above as one call of KERNELS' {name}: the same "
                "statements in C++, each run of elementwise ones a fused kernel",
                self.indent + call]

    def _run(self, run: list[ir.Node]) -> list[str]:
        """A run's lines: the torch operations, and beside them its kernel's call if it has one."""
        plain = [line for node in run for line in self.lines(node)]
        if self.operations_only or not any(isinstance(node, (ir.Elementwise, ir.Activate))
                                           for node in run):
            return plain
        name = f"{self.function}_{self.count + 1}"
        try:
            kernel = kernels.make_kernel(name, run, self.ranks_at, self.ref)
        except kernels.Unfusable:
            return plain
        self.kernels.append(kernel)
        self.exported.append(name)
        self.count += 1
        call = []
        for step in kernels.before_call(run, kernel):
            if isinstance(step, ir.Bind):
                call += self.lines(step)
            else:
                new, like = step
                call.append(f"{new} = torch.empty_like({like})")
        written = ", ".join(dict.fromkeys(kernel.args[st.out] for st in kernel.statements))
        call += [f"# the operations above as one call of KERNELS' {name}, which writes {written}",
                 f"fused.{name}({', '.join(kernel.args)})",
                 *[line for node in kernels.after_call(run) for line in self.lines(node)]]
        return ["if fused is None:", *[self.indent + line for line in plain],
                "else:", *[self.indent + line for line in call]]

