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

import re
import textwrap
from dataclasses import dataclass

import sympy
from sympy.printing.cxx import CXX11CodePrinter

from derive.targets import ir
from derive.targets.lower.rewrites import names_read
from derive.targets.torch import kernels
from derive.targets.torch.kernels import Unfusable

TENSOR, INTEGER, OPTIONAL = "at::Tensor", "int64_t", "c10::optional<at::Tensor>"
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


CPP_TAKEN = frozenset("""
    alignas alignof and and_eq asm auto bitand bitor bool break case catch char char8_t char16_t
    char32_t class compl concept const consteval constexpr constinit const_cast continue
    co_await co_return co_yield decltype default delete do double dynamic_cast else enum explicit
    export extern false float for friend goto if inline int long mutable namespace new noexcept
    not not_eq nullptr operator or or_eq private protected public register reinterpret_cast
    requires return short signed sizeof static static_assert static_cast struct switch template
    this thread_local throw true try typedef typeid typename union unsigned using virtual void
    volatile wchar_t while xor xor_eq
    at c10 std torch T INT64_MAX NULL int64_t intptr_t size_t no_grad product_ block_values
    nest_stride check_inner GRAIN_VALUES grain per_row same_rows row_values rows_apart
    all_rows_apart over_rows
""".split())
"""Names a loop function may not give a local: C++'s keywords, the namespaces and types it uses,
its own locals and the kernels' helpers (an IR name among them is printed as ``name_cpp``)."""
KERNEL_NAME = re.compile(r"(forward|backward|recompute|step_forward|step_backward)"
                         r"_(\d+|loop(_\d+)?)(_as)?\Z")
"""The kernels' function names (a local so named would hide one)."""


class _Sizes(CXX11CodePrinter):
    """Integer expressions (sizes, indices) as C++, terms in the order built, symbols by ``cpp``
    (their C++ names)."""

    def __init__(self, cpp):
        super().__init__({"order": "none"})
        self.cpp = cpp

    def _print_Symbol(self, expr):
        return self.cpp(expr.name)


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
        self.sizes = _Sizes(self.cpp)
        self.others: set[str] = set(kinds)  # names that are not renamed, to avoid
        self.renamed: dict[str, str] = {}

    def cpp(self, name: str) -> str:
        """A name as the loop function's C++ local: itself, or ``name_cpp`` where C++ or the
        function takes it."""
        if name not in CPP_TAKEN and not KERNEL_NAME.match(name):
            return name
        if name not in self.renamed:
            local = name + "_cpp"
            while local in self.others or local in CPP_TAKEN:
                local += "_"
            self.renamed[name] = local
            self.others.add(local)
        return self.renamed[name]

    # -- what it reads and writes ------------------------------------------------------------

    def make(self, loop: ir.Node, read_after: set[str]) -> LoopKernel:
        self.others |= names_read(loop) | {n for node in ir.walk(loop) for n in kinds_bound(node)}
        try:
            body = [self.indent + line for line in self.lines(loop)]
        except NotImplementedError as error:
            raise Unfusable(str(error)) from None
        inside = names_read(loop)
        read = sorted(inside - set(self.assigned) - self._loop_vars(loop))
        # and what the loop binds again but reads first (a carried adjoint): its value before
        read += sorted(n for n in self.assigned if n in self.kinds and n in inside)
        params = []
        for name in read:
            kind = self.kinds.get(name)
            if kind is None:
                raise Unfusable(f"the kind of {name}")
            params.append((kind, name))
        if any(isinstance(n, ir.BlockLoop) for n in ir.walk(loop)):
            params.append((INTEGER, BLOCK_VALUES))
        returns = tuple(sorted(n for n in self.assigned if n in read_after))
        if any(self.assigned[n] != TENSOR for n in returns):
            raise Unfusable("an integer read after the loop")
        given = {name for _, name in params}
        declared = [f"{self.indent}{kind} {self.cpp(n)}{' = 0' if kind == INTEGER else ''};"
                    for n, kind in self.assigned.items() if n not in given]
        returned = ", ".join(self.cpp(n) for n in returns)
        lines = (*declared, *body, f"{self.indent}return {{{returned}}};")
        args = tuple("FUSED_BLOCK_VALUES" if n == BLOCK_VALUES else n for _, n in params)
        params = [(kind, n if n == BLOCK_VALUES else self.cpp(n)) for kind, n in params]
        return LoopKernel(self.name, tuple(params), args, returns, lines)

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
        return self.cpp(name)

    # -- places --------------------------------------------------------------------------------

    def size(self, expr) -> str:
        return self.sizes.doprint(sympy.sympify(expr))

    def ref(self, ref: ir.Ref) -> str:
        """A view as ATen calls: a number selects along an axis, a span slices it, a new axis
        is an unsqueeze."""
        if ref.key is not None:
            raise Unfusable(f"{ref.name}[{ref.key!r}] in a loop")
        kind = self.assigned.get(ref.name, self.kinds.get(ref.name))
        text = f"(*{self.cpp(ref.name)})" if kind == OPTIONAL else self.cpp(ref.name)
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
        lines = [line for item in kernels.split_runs(body)
                 for line in (self._run(item) if isinstance(item, list) else self.lines(item))]
        return [self.indent + line if line else line for line in lines]

    def _run(self, run: list[ir.Node]) -> list[str]:
        if not any(isinstance(node, (ir.Elementwise, ir.Activate)) for node in run):
            return [line for node in run for line in self.lines(node)]
        kernel = kernels.make_kernel(self.run_name(), run, self.ranks_at, self.ref)
        self.runs.append(kernel)
        allocate = dict(kernel.allocations)
        lines = []
        for node in run:
            if isinstance(node, ir.Bind):
                lines += self.lines(node)
            elif isinstance(node, ir.Elementwise) and node.out.name in allocate and node.new:
                name = self._assign(node.out.name, TENSOR)
                lines.append(f"{name} = at::empty_like({allocate[node.out.name]});")
        lines += [line for node in run if isinstance(node, ir.Comment)
                  for line in self.lines(node)]
        return lines + kernels._wrap_call(f"{kernel.name}({', '.join(kernel.args)});",
                                          kernels.WIDTH - 8)

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
            return [f"{self._assign(node.out.name, TENSOR)} = at::mm({a}, {b});"]
        out = self.ref(node.out)
        if node.accumulate:
            return [f"{out}.addmm_({a}, {b});"]
        return ["{", f"{self.indent}at::Tensor product_ = {out};",  # an lvalue for mm_out
                f"{self.indent}at::mm_out(product_, {a}, {b});", "}"]

    def _print_Arrive(self, node: ir.Arrive) -> list[str]:
        if self.kinds.get(node.argument) != OPTIONAL:
            raise Unfusable(f"{node.argument} is not an optional tensor")
        carried, given = self.ref(node.carried), self.ref(node.given)
        name = self._assign(node.name, TENSOR)
        argument = self.cpp(node.argument)
        return [f"{name} = {argument}.has_value() ? {carried} + {given} : {carried};"]

    def _print_StackAxis(self, node: ir.StackAxis) -> list[str]:
        parts = ", ".join(self.ref(r) for r in node.parts)
        return kernels._wrap_call(f"{self._assign(node.name, TENSOR)} = at::stack({{{parts}}}, "
                                  f"{node.axis});", kernels.WIDTH - 8)

    def _print_Loop(self, node: ir.Loop) -> list[str]:
        var, start, stop = self.cpp(node.var), self.size(node.start), self.size(node.stop)
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
                      "  at::NoGradGuard no_grad;", *loop.lines, "}"]) + "\n"
