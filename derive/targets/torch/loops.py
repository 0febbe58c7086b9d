"""A whole time loop of the torch target as one C++ function: the loop IR's statements printed
as ATen calls (one ``_print_<Node>`` method each), its elementwise runs as the fused kernels of
``kernels.py``, so a step costs no Python and no per-operation dispatch from Python.

Measured (``lstm`` forward + backward, the generated functions with and without the C++ loops,
interleaved in one process, 2-core VM): 0.65 of the time at (50,1,32,32), 0.86 to 0.92 at
(50,16,64,64), 0.94 to 0.98 at (100,32,128,128) and the same time at (100,64,256,256), in both
dtypes: what a step's Python cost (indexing its views, the calls) beside its work.

The Python module keeps the loop as torch operations beside the call (``if fused is None:``);
that loop is the readable reference, and the one that runs wherever the kernels do not. A
loop holding a statement this printer has no method for, a run the kernels cannot take, or a
name whose kind (tensor, integer, optional tensor) it cannot tell stays a Python loop
(``Unfusable``), its runs still fused one by one.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass

import sympy
from sympy.printing.cxx import CXX11CodePrinter

from derive.targets import ir
from derive.targets.lower.rewrites import names_read
from derive.targets.torch import kernels
from derive.targets.torch.kernels import Unfusable

TENSOR, INTEGER, OPTIONAL = "at::Tensor", "int64_t", "std::optional<at::Tensor>"
"""The kinds of a loop function's arguments, as their C++ types."""

BLOCK_VALUES = "block_values"
"""The argument carrying the module's FUSED_BLOCK_VALUES into a loop of blocks."""


@dataclass(frozen=True)
class LoopKernel:
    """``name(args) -> returns``: a time loop as one C++ function. ``params`` are its C++
    parameters (type, name), ``args`` the Python expressions passed for them, ``returns`` the
    tensors it binds that the Python code reads after it (their Python names, in the order the
    function returns them), ``lines`` its body."""

    name: str
    params: tuple[tuple[str, str], ...]
    args: tuple[str, ...]
    returns: tuple[str, ...]
    lines: tuple[str, ...]

    def source(self) -> str:
        return loop_source(self)


def cpp(name: str) -> str:
    """An IR name as a C++ local of a loop function: the name and ``_``, as the kernels name
    their pointers. No C++ keyword, macro, namespace, type or name the function uses ends so,
    and no two names meet (``k`` is ``k_``, a fresh ``k_`` is ``k__``)."""
    return name + "_"


class _Sizes(CXX11CodePrinter):
    """Integer expressions (sizes, indices) as C++: integers, names, sums, products and small
    powers only (``Unfusable`` otherwise: C++ would compute them in floating point), terms in
    the order built."""

    def __init__(self):
        super().__init__({"order": "none"})

    def doprint(self, expr, assign_to=None):
        for part in sympy.preorder_traversal(expr):
            if not isinstance(part, (sympy.Integer, sympy.Symbol, sympy.Add, sympy.Mul,
                                     sympy.Pow)) or (isinstance(part, sympy.Pow) and not (
                                         part.exp.is_Integer and 1 <= part.exp <= 4)):
                raise Unfusable(f"an integer expression C++ cannot take: {expr}")
        return super().doprint(expr, assign_to)

    def _print_Symbol(self, expr):
        return cpp(expr.name)

    def _print_Pow(self, expr, rational=False):
        return "*".join([self.parenthesize(expr.base, 60)] * int(expr.exp))


def kinds_bound(node: ir.Node) -> dict[str, str]:
    """The names a top-level statement of a function binds, with their kinds (a name bound to
    something else, a dict or a dtype, gets ``None``)."""
    if isinstance(node, ir.CheckArgs):
        return {r: INTEGER if r in ("steps", "batch") else None for r in node.results}
    if isinstance(node, (ir.SizeOf, ir.Let)):
        return {node.name: INTEGER}
    if isinstance(node, (ir.Bind, ir.Reshape, ir.Allocate, ir.ZerosLike, ir.Copy, ir.Stack,
                         ir.StackAxis, ir.RowConstants, ir.Reduce)):
        return {node.name: TENSOR}
    if isinstance(node, (ir.MatMul, ir.Elementwise)) and node.new:
        return {node.out.name: TENSOR}
    if isinstance(node, ir.Dict):
        return {node.name: None}
    return {}


class CppLoopPrinter(ir.Printer):
    """Prints one time loop as the body of a C++ function; ``make`` gives its ``LoopKernel`` and
    the run kernels it calls, or raises ``Unfusable``."""

    indent = "  "

    def __init__(self, name: str, kinds: dict[str, str], ranks_at, run_name):
        self.name, self.kinds, self.ranks_at, self.run_name = name, kinds, ranks_at, run_name
        self.runs: list[kernels.Kernel] = []
        self.assigned: dict[str, str] = {}  # names the loop binds -> kind
        self.sizes = _Sizes()

    # -- what it reads and writes ------------------------------------------------------------

    def make(self, loop: ir.Node, read_after: set[str]) -> LoopKernel:
        try:
            body = [self.indent + line for line in self.lines(loop)]
        except NotImplementedError as error:
            raise Unfusable(str(error)) from None
        if self._loop_vars(loop) & read_after:
            raise Unfusable("a loop's counter read after it")
        inside = names_read(loop)
        read = sorted(inside - set(self.assigned) - self._loop_vars(loop))
        # and what the loop binds again: its value before (read first, or read after the loop
        # when the loop runs no step)
        read += sorted(n for n in self.assigned if n in self.kinds
                       and (n in inside or n in read_after))
        params = []  # (C++ type, C++ name, Python expression)
        for name in read:
            kind = self.kinds.get(name)
            if kind is None or kind != self.assigned.get(name, kind):
                raise Unfusable(f"the kind of {name}")
            params.append((kind, cpp(name), name))
        if any(isinstance(n, ir.BlockLoop) for n in ir.walk(loop)):
            params.append((INTEGER, BLOCK_VALUES, "FUSED_BLOCK_VALUES"))
        returns = tuple(sorted(n for n in self.assigned if n in read_after))
        if any(self.assigned[n] != TENSOR for n in returns):
            raise Unfusable("an integer read after the loop")
        given = {name for _, _, name in params}
        declared = [f"{self.indent}{kind} {cpp(n)}{' = 0' if kind == INTEGER else ''};"
                    for n, kind in self.assigned.items() if n not in given]
        returned = ", ".join(cpp(n) for n in returns)
        lines = (*declared, *body, f"{self.indent}return {{{returned}}};")
        return LoopKernel(self.name, tuple((kind, name) for kind, name, _ in params),
                          tuple(python for _, _, python in params), returns, lines)

    @staticmethod
    def _loop_vars(loop) -> set[str]:
        found = set()
        for node in ir.walk(loop):
            if isinstance(node, ir.Loop):
                found.add(node.var)
            elif isinstance(node, ir.BlockLoop):
                found |= {node.size, node.start, node.stop}
        return found

    def _assign(self, name: str, kind: str) -> str:
        if self.assigned.setdefault(name, kind) != kind:
            raise Unfusable(f"{name} bound to a tensor and an integer")
        return cpp(name)

    # -- places --------------------------------------------------------------------------------

    def size(self, expr) -> str:
        return self.sizes.doprint(sympy.sympify(expr))

    def ref(self, ref: ir.Ref) -> str:
        """A view as ATen calls: a number selects along an axis, a span slices it, a new axis
        is an unsqueeze."""
        if ref.key is not None:
            raise Unfusable(f"{ref.name}[{ref.key!r}] in a loop")
        kind = self.assigned.get(ref.name, self.kinds.get(ref.name))
        text = f"{cpp(ref.name)}.value()" if kind == OPTIONAL else cpp(ref.name)
        axis = 0
        for i in ref.index:
            if isinstance(i, ir.NewAxis):
                text += f".unsqueeze({axis})"
                axis += 1
            elif isinstance(i, ir.Span):
                if i.start is not None or i.stop is not None:
                    start = "0" if i.start is None else self.size(i.start)
                    stop = "INT64_MAX" if i.stop is None else self.size(i.stop)
                    text += f".slice({axis}, {start}, {stop})"
                axis += 1
            else:
                text += f".select({axis}, {self.size(i)})"
        return text

    # -- statements ----------------------------------------------------------------------------

    def block(self, body) -> list[str]:
        lines = [line for item in ir.split_runs(body)
                 for line in (self._run(item) if isinstance(item, list) else self.lines(item))]
        return [self.indent + line if line else line for line in lines]

    def _run(self, run: list[ir.Node]) -> list[str]:
        if not any(isinstance(node, (ir.Elementwise, ir.Activate)) for node in run):
            return [line for node in run for line in self.lines(node)]
        kernel = kernels.make_kernel(self.run_name(), run, self.ranks_at, self.ref)
        self.runs.append(kernel)
        lines = []
        for step in kernels.before_call(run, kernel):
            if isinstance(step, ir.Bind):
                lines += self.lines(step)
            else:
                name, like = step
                lines.append(f"{self._assign(name, TENSOR)} = at::empty_like({like});")
        lines += [line for node in run if isinstance(node, ir.Comment)
                  for line in self.lines(node)]
        lines += kernels._wrap_call(f"{kernel.name}({', '.join(kernel.args)});",
                                    kernels.WIDTH - 8)
        return lines + [line for node in kernels.after_call(run) for line in self.lines(node)]

    def _print_Comment(self, node: ir.Comment) -> list[str]:
        return [f"// {line}" for line in textwrap.wrap(node.text, kernels.WIDTH - 16)]

    def _print_Bind(self, node: ir.Bind) -> list[str]:
        return [f"{self._assign(node.name, TENSOR)} = {self.ref(node.ref)};"]

    def _print_Let(self, node: ir.Let) -> list[str]:
        return [f"{self._assign(node.name, INTEGER)} = {self.size(node.value)};"]

    def _print_MatMul(self, node: ir.MatMul) -> list[str]:
        if node.cast:
            raise Unfusable("a product cast to another dtype")
        a = self.ref(node.a) + (".t()" if node.transpose_a else "")
        b = self.ref(node.b) + (".t()" if node.transpose_b else "")
        if node.new:
            if node.out.index or node.out.key is not None:
                raise Unfusable("a new product into a view")
            return [f"{self._assign(node.out.name, TENSOR)} = at::matmul({a}, {b});"]
        out = self.ref(node.out)
        if node.accumulate:
            return [f"{out}.addmm_({a}, {b});"]
        return ["{", f"{self.indent}at::Tensor product = {out};",  # an lvalue for matmul_out
                f"{self.indent}at::matmul_out(product, {a}, {b});", "}"]

    def _print_Arrive(self, node: ir.Arrive) -> list[str]:
        if self.kinds.get(node.argument) != OPTIONAL:
            raise Unfusable(f"{node.argument} is not an optional tensor")
        carried, given = self.ref(node.carried), self.ref(node.given)
        name = self._assign(node.name, TENSOR)
        argument = cpp(node.argument)
        return [f"{name} = {argument}.has_value() ? {carried} + {given} : {carried};"]

    def _print_StackAxis(self, node: ir.StackAxis) -> list[str]:
        parts = ", ".join(self.ref(r) for r in node.parts)
        return kernels._wrap_call(f"{self._assign(node.name, TENSOR)} = at::stack({{{parts}}}, "
                                  f"{node.axis});", kernels.WIDTH - 8)

    def _print_Loop(self, node: ir.Loop) -> list[str]:
        var, start, stop = cpp(node.var), self.size(node.start), self.size(node.stop)
        head = (f"for (int64_t {var} = {stop} - 1; {var} >= {start}; --{var}) {{" if node.reverse
                else f"for (int64_t {var} = {start}; {var} < {stop}; ++{var}) {{")
        return [head, *self.block(node.body), "}"]

    def _print_BlockLoop(self, node: ir.BlockLoop) -> list[str]:
        size, start, stop = (self._assign(n, INTEGER) for n in (node.size, node.start, node.stop))
        per_step = self.size(node.per_step)
        return [f"{size} = std::max<int64_t>(1, {BLOCK_VALUES} / std::max<int64_t>(1, "
                f"{per_step}));",
                f"for ({stop} = {self.size(node.steps)}; {stop} > 0; {stop} -= {size}) {{",
                f"{self.indent}{start} = std::max<int64_t>({stop} - {size}, 0);",
                *self.block(node.body), "}"]


def loop_source(loop: LoopKernel) -> str:
    """The C++ function of a loop kernel (no autograd inside: the kernels write through raw
    pointers, so nothing here may be recorded)."""
    params = ", ".join(f"{kind} {name}" for kind, name in loop.params)
    return "\n".join([*kernels._wrap_call(f"std::vector<at::Tensor> {loop.name}({params}) {{"),
                      "  pybind11::gil_scoped_release no_gil;  // Python threads run meanwhile",
                      "  at::NoGradGuard no_grad;", *loop.lines, "}"]) + "\n"
