"""Fused C++ kernels for the torch target: each run of elementwise statements inside a time loop
(a step's ``ElementwiseBlock``, a block's partial derivatives) becomes one C++ function, called
once instead of one torch operation per sum, product and function. The time loop around them is
one C++ function too where ``loops.py`` can print it (every built-in cell's); elsewhere Python
calls each run's kernel.

Measured before it was built (``lstm``, forward + backward, the user's loop of ``nn.Linear`` as
the baseline of ``python -m verify bench --target torch``): the torch operations spent as long
again as the matrix products at (100,64,256,256); a hand-written fused step took the time
there from 0.97 to 0.70 of the user's loop in float32. ``torch.compile`` of the same step was
slower than the eager operations (its call costs more than the work at these sizes). The
README's PyTorch section has the bench with these kernels.

Each statement prints as a loop nest over its output's axes, the outermost split over torch's
threads (``at::parallel_for``, from 4096 values on; all of a kernel's statements in one region
when, checked at run time, no chunk of rows touches a row another chunk writes), the innermost
a ``#pragma omp simd`` loop at unit stride. An operand is a view the Python side passes: its
axes align to the output's last ones, and an outer axis it lacks or has of size 1 is broadcast
(stride 0), as in torch; along the innermost axis only a new axis (``x[:, None]``) is.
Element functions print through ``FUNCTIONS`` (one template per building block); GCC
vectorises ``std::tanh`` and ``std::exp`` through glibc's vector math (``-ffast-math``, at
compile time only: the extension is linked without it, so the process's floating-point flags
are left alone).

A run is fused only when every statement's operands have a known rank of at least one;
otherwise it stays torch operations.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from types import MappingProxyType

import sympy
from sympy.printing.cxx import CXX11CodePrinter

from derive.ad.blocks import BLOCKS, BlockPrinting
from derive.targets import ir
from derive.targets.compiled.ranks import indexed_rank

FUNCTIONS = MappingProxyType({
    "sigmoid": "(T(0.5) + T(0.5)*std::tanh(T(0.5)*({a})))", "tanh": "std::tanh({a})",
    "exp": "std::exp({a})", "log": "std::log({a})",
})
assert set(FUNCTIONS) == set(BLOCKS), "every building block needs its C++ form"

FLAGS = ("-O3", "-march=native", "-ffast-math", "-fopenmp")
"""Compiler flags of the kernels (the link step gets none of them)."""

PRELUDE = r'''#include <torch/extension.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>
#include <vector>

namespace {

// Operand t in a loop nest over out's axes: its axes align to out's last ones; an axis it lacks
// or has of size 1 is broadcast, stride 0.
int64_t nest_stride(const at::Tensor& t, const at::Tensor& out, int64_t axis) {
  const int64_t own = axis - (out.dim() - t.dim());
  if (own < 0) return 0;
  TORCH_CHECK(t.size(own) == out.size(axis) || t.size(own) == 1, "gatecalc: an operand of shape ",
              t.sizes(), " in a loop over ", out.sizes(), " (a bug in gatecalc, please report it)");
  return t.size(own) == 1 ? 0 : t.stride(own);
}

// The innermost axis runs at unit stride in every operand that has it, in one dtype.
void check_inner(const at::Tensor& t, const at::Tensor& out) {
  TORCH_CHECK(t.scalar_type() == out.scalar_type() && t.dim() >= 1 && t.dim() <= out.dim() &&
              t.size(-1) == out.size(-1) && (t.stride(-1) == 1 || t.size(-1) == 1),
              "gatecalc: an operand of shape ", t.sizes(), " and strides ", t.strides(),
              " in a loop over ", out.sizes(), " (a bug in gatecalc, please report it)");
}

// Values a thread takes at least: an eighth of torch's grain size (32768), as a kernel's
// statements cost several operations a value (tanh among them); measured with the torch bench,
// the time of the kernels at (100,32,128,128) halved in float64.
constexpr int64_t GRAIN_VALUES = 4096;

// Rows of outer iterations per thread.
int64_t grain(int64_t inner) {
  return std::max<int64_t>(1, GRAIN_VALUES / std::max<int64_t>(1, inner));
}

// Values in one row (along axis 0) of t.
int64_t per_row(const at::Tensor& t) {
  return t.numel() / std::max<int64_t>(1, t.size(0));
}

// True when the outputs have as many rows (axis 0) each.
bool same_rows(const std::vector<at::Tensor>& outs) {
  for (const at::Tensor& out : outs) {
    if (out.size(0) != outs.front().size(0)) return false;
  }
  return true;
}

// Values in one row of all the outputs together.
int64_t row_values(const std::vector<at::Tensor>& outs) {
  int64_t values = 0;
  for (const at::Tensor& out : outs) values += per_row(out);
  return values;
}

// True when a chunk of out's rows (axis 0) may be written while another thread works on other
// rows of t (read or written by another statement): their memory does not meet, or row r of t
// meets no row of out but row r.
bool rows_apart(const at::Tensor& out, const at::Tensor& t) {
  if (out.numel() == 0 || t.numel() == 0 || out.size(0) < 2) return true;
  const int64_t item = out.element_size();
  auto extent = [&](const at::Tensor& v, int64_t from) {  // bytes spanned by axes from..
    int64_t last = 0;
    for (int64_t k = from; k < v.dim(); ++k) last += (v.size(k) - 1) * v.stride(k);
    return (last + 1) * item;
  };
  const int64_t a = reinterpret_cast<intptr_t>(out.data_ptr());
  const int64_t b = reinterpret_cast<intptr_t>(t.data_ptr());
  if (b + extent(t, 0) <= a || a + extent(out, 0) <= b) return true;
  if (t.dim() != out.dim() || t.size(0) != out.size(0) || t.stride(0) != out.stride(0)) {
    return false;
  }
  const int64_t row = out.stride(0) * item, d = b - a;
  return extent(out, 1) - row <= d && d <= row - extent(t, 1);
}

// Each statement's output rows_apart from every array of the other statements.
bool all_rows_apart(const std::vector<at::Tensor>& outs,
                    const std::vector<std::vector<at::Tensor>>& arrays) {
  for (size_t n = 0; n < outs.size(); ++n) {
    for (size_t m = 0; m < arrays.size(); ++m) {
      if (m == n) continue;
      for (const at::Tensor& t : arrays[m]) {
        if (!rows_apart(outs[n], t)) return false;
      }
    }
  }
  return true;
}

// A statement over all rows of its output, the rows split over torch's threads.
template <typename F>
void over_rows(const at::Tensor& out, const F& statement) {
  at::parallel_for(0, out.size(0), grain(per_row(out)), statement);
}

}  // namespace
'''


class CppExprPrinter(BlockPrinting, CXX11CodePrinter):
    """One unit's expression in C++ over elements of type ``T``; ``substitutions`` maps a symbol
    to its element. Numbers are ``T(...)`` (float kernels stay in float), small integer powers
    products, terms and factors in the order they stand."""

    def __init__(self, substitutions: dict[str, str]):
        super().__init__({"order": "none"})
        self.substitutions = substitutions

    def _print_block(self, block, expr, **kwargs):
        return FUNCTIONS[block.name].format(a=self._print(expr.args[0]))

    def _print_Symbol(self, expr):
        return self.substitutions[expr.name]

    def _print_Integer(self, expr):
        return f"T({int(expr)})"

    def _print_Rational(self, expr):
        return f"(T({expr.p})/T({expr.q}))"

    def _print_Float(self, expr):
        return f"T({float(expr)!r})"

    def _print_Pow(self, expr, rational=False):
        base, exp = expr.args
        factor = self.parenthesize(base, sympy.printing.precedence.PRECEDENCE["Mul"])
        if exp == 1:
            return factor
        if exp.is_Integer and 2 <= int(exp) <= 4:  # in parentheses: after a '/' SymPy adds none
            return "(" + "*".join([factor] * int(exp)) + ")"
        if exp.is_Integer and -4 <= int(exp) <= -1:
            return f"T(1)/({'*'.join([factor] * -int(exp))})"
        if exp == sympy.Rational(1, 2):
            return f"std::sqrt({self._print(base)})"
        return f"std::pow({self._print(base)}, {self._print(exp)})"

    def _print_Function(self, expr):
        raise ValueError(f"no C++ rule for function {expr.func}")


INDICES = ("_i", "_j", "_k", "_l", "_m")
"""Outer loop indices, outermost first; ``_n`` runs along the innermost axis."""


@dataclass(frozen=True)
class Statement:
    """One elementwise statement of a kernel: a loop nest of ``rank`` axes over the argument
    ``out`` writes ``value`` (C++ over elements, pointers named after the math) into ``target``;
    ``operands`` the arguments it reads or writes (number, pointer name, broadcast along the
    innermost axis)."""

    comment: str
    out: int
    rank: int
    operands: tuple[tuple[int, str, bool], ...]
    target: str
    value: str
    accumulate: bool = False


@dataclass(frozen=True)
class Kernel:
    """``name(args)``: the Python expressions passed (views), and the statements it runs."""

    name: str
    args: tuple[str, ...]
    statements: tuple[Statement, ...]
    allocations: tuple[tuple[str, str], ...]  # (name, like): new outputs made before the call
    shared: bool = False  # every output has rows (rank >= 2): one region may run them all

    def source(self) -> str:
        return kernel_source(self)


class Unfusable(Exception):
    """A run the kernels cannot take; it stays torch operations."""


class _Args:
    """A kernel's arguments: the Python view each passes, its rank where a statement reads it,
    and the C++ pointer name of its elements (the array's name and ``_``: no C++ keyword or
    local of the kernel ends so)."""

    def __init__(self, ref):
        self.ref, self.texts, self.pointers = ref, [], []
        self.read: set[str] = set()

    def add(self, r: ir.Ref, ranks) -> tuple[int, str, bool, int]:
        rank = None if r.key is not None else indexed_rank(ranks.get(r.name), r.index)
        if rank is None or rank < 1:
            raise Unfusable(f"rank of {self.ref(r)}")
        text = self.ref(r)
        if text not in self.texts:
            self.texts.append(text)
            pointer, n = f"{r.name}_", 1
            while pointer in self.pointers:  # another view of the same array
                n += 1
                pointer = f"{r.name}_{n}_"
            self.pointers.append(pointer)
        self.read.add(r.name)
        k = self.texts.index(text)
        # broadcast along the innermost axis: the view's last axis is a new one
        consumed = sum(not isinstance(i, ir.NewAxis) for i in r.index)
        last_new = (bool(r.index) and isinstance(r.index[-1], ir.NewAxis)
                    and consumed == ranks.get(r.name))
        return k, self.pointers[k], last_new, rank


def _element(pointer: str, broadcast: bool) -> str:
    """An operand's element in the innermost loop: its row pointer at ``_n`` (at 0 when it is
    broadcast along that axis)."""
    return f"{pointer}[{'0' if broadcast else '_n'}]"


def make_kernel(name: str, run: list[ir.Node], ranks_at: dict[int, dict[str, int]],
                ref) -> Kernel:
    """The kernel of a run of statements (``Comment``, ``Bind``, ``Elementwise``, ``Activate``);
    ``ref`` prints a ``Ref`` as Python. Raises ``Unfusable``."""
    args = _Args(ref)
    statements, allocations, comment = [], [], ""
    for node in run:
        if isinstance(node, ir.Comment):
            comment = node.text
            continue
        if isinstance(node, ir.Bind):
            if node.name in args.read:
                raise Unfusable(f"{node.name} rebound after it is read")
            continue
        ranks = ranks_at.get(id(node))
        if ranks is None:
            raise Unfusable("no ranks")
        if isinstance(node, ir.Elementwise):
            places = dict(node.places)
            refs = [places.get(s, ir.Ref(s)) for s in _symbols(node.expr)]
            if node.new:
                if node.out.name in args.read or node.out.index or node.out.key is not None:
                    raise Unfusable(f"new {node.out.name}")
                like = _like(refs, ranks)
                allocations.append((node.out.name, ref(like)))
                ranks = {**ranks, node.out.name: indexed_rank(ranks[like.name], like.index)}
            out, pointer, broadcast, rank = args.add(node.out, ranks)
            operands, elements = [(out, pointer, False)], {}
            for symbol, r in zip(_symbols(node.expr), refs):
                k, p, b, _ = args.add(r, ranks)
                operands.append((k, p, b))
                elements[symbol] = _element(p, b)
            value = CppExprPrinter(elements).doprint(node.expr)
            accumulate = node.accumulate
        elif isinstance(node, ir.Activate):
            out, pointer, broadcast, rank = args.add(node.view, ranks)
            operands, element, parts = [(out, pointer, False)], _element(pointer, False), {}
            for key, given in (("scale", node.scale), ("shift", node.shift)):
                if isinstance(given, ir.Ref):
                    k, p, b, _ = args.add(given, ranks)
                    operands.append((k, p, b))
                    parts[key] = _element(p, b)
                elif given is not None:
                    parts[key] = f"T({float(given)!r})"
            value = (f"{parts.get('shift', 'T(0)')} + {parts.get('scale', 'T(1)')}"
                     f"*std::tanh({element})" if parts
                     else FUNCTIONS[node.function].format(a=element))
            accumulate = False
        else:
            raise Unfusable(type(node).__name__)
        if broadcast or rank > len(INDICES) + 1:
            raise Unfusable("output axes")
        statements.append(Statement(comment, out, rank, tuple(dict.fromkeys(operands)),
                                    _element(pointer, False), value, accumulate))
        comment = ""
    if not statements:
        raise Unfusable("nothing to compute")
    return Kernel(name, tuple(args.texts), tuple(statements), tuple(allocations),
                  min(st.rank for st in statements) >= 2)


def before_call(run: list[ir.Node], kernel: Kernel) -> list:
    """What a run's kernel call needs done first, in order: each ``Bind`` before the run's last
    statement (a view), and ``(name, like)`` for each new output the kernel writes (allocated
    like ``like``)."""
    allocate, last = dict(kernel.allocations), _last_statement(run)
    return [node if isinstance(node, ir.Bind) else (node.out.name, allocate[node.out.name])
            for node in run[:last]
            if isinstance(node, ir.Bind)
            or isinstance(node, ir.Elementwise) and node.new and node.out.name in allocate]


def after_call(run: list[ir.Node]) -> list[ir.Bind]:
    """The ``Bind`` s after the run's last statement (a name carried to the next step): after
    the call, as in the statements' order."""
    return [node for node in run[_last_statement(run):] if isinstance(node, ir.Bind)]


def _last_statement(run: list[ir.Node]) -> int:
    """The index after the run's last ``Elementwise`` or ``Activate``."""
    return max(n + 1 for n, node in enumerate(run)
               if isinstance(node, (ir.Elementwise, ir.Activate)))


def _symbols(expr: sympy.Expr) -> list[str]:
    return sorted(s.name for s in expr.free_symbols)


def _like(refs: list[ir.Ref], ranks) -> ir.Ref:
    """An operand shaped as a new output (the highest rank, no new axis): what it is made
    like."""
    own = [(r, None if r.key is not None else indexed_rank(ranks.get(r.name), r.index))
           for r in refs]
    if not own or any(rank is None for _, rank in own):
        raise Unfusable("operand ranks")
    top = max(rank for _, rank in own)
    for r, rank in own:
        if rank == top and not any(isinstance(i, ir.NewAxis) for i in r.index):
            return r
    raise Unfusable("no operand shaped as the output")


def kernel_source(kernel: Kernel) -> str:
    """The C++ function of ``kernel``: a template over the element type (each statement a
    lambda over a range of its output's rows, then run: all in one parallel region over the
    rows when they may and the outputs have as many rows, else one region each), and its entry
    point choosing float or double from the first argument."""
    params = ", ".join(f"const at::Tensor& a{k}" for k in range(len(kernel.args)))
    names = ", ".join(f"a{k}" for k in range(len(kernel.args)))
    lines = ["template <typename T>", *_wrap_call(f"void {kernel.name}_as({params}) {{")]
    for n, statement in enumerate(kernel.statements, 1):
        lines += ["  " + line for line in _statement(statement, f"statement_{n}")]
    outs = [f"a{st.out}" for st in kernel.statements]
    each = [f"  over_rows({o}, statement_{n});" for n, o in enumerate(outs, 1)]
    if kernel.shared and len(outs) > 1:
        listed = "{" + ", ".join(outs) + "}"
        arrays = ["{" + ", ".join(f"a{k}" for k, _, _ in st.operands) + "}"
                  for st in kernel.statements]
        lines += ["  // all statements in one parallel region over rows when they have as many "
                  "rows and", "  // no chunk of rows reads or writes a row another chunk writes",
                  *_wrap_call(f"  const std::vector<at::Tensor> outs = {listed};"),
                  "  const bool together = same_rows(outs) && all_rows_apart(outs, {",
                  *[f"      {a}," for a in arrays[:-1]], f"      {arrays[-1]}}});",
                  "  if (together) {",
                  "    const int64_t work = row_values(outs);",
                  f"    at::parallel_for(0, {outs[0]}.size(0), grain(work), "
                  "[&](int64_t lo, int64_t hi) {",
                  *[f"      statement_{n}(lo, hi);" for n in range(1, len(outs) + 1)],
                  "    });", "  } else {", *["  " + x for x in each], "  }"]
    else:
        lines += each
    entry = params.replace("const at::Tensor&", "at::Tensor")
    lines += ["}", "",
              *_wrap_call(f"void {kernel.name}({entry}) {{"),
              "  if (a0.scalar_type() == at::kFloat) {",
              *["    " + x for x in _wrap_call(f"{kernel.name}_as<float>({names});")],
              "  } else {",
              f'    TORCH_CHECK(a0.scalar_type() == at::kDouble, "{kernel.name}: float or '
              'double");',
              *["    " + x for x in _wrap_call(f"{kernel.name}_as<double>({names});")],
              "  }", "}"]
    return "\n".join(lines) + "\n"


def _statement(s: Statement, name: str) -> list[str]:
    """A statement as a lambda over rows ``lo:hi`` of its output's axis 0: each operand's base
    pointer and strides, the loops, its row pointer (``name_``) in the innermost but one, and
    the innermost loop (for an output of one axis, the rows are that axis)."""
    rank, axes = s.rank, list(range(s.rank))
    comment = textwrap.wrap(s.comment, WIDTH - 6)
    lines = [*[f"// {x}" for x in comment], f"auto {name} = [&](int64_t lo, int64_t hi) {{",
             f"  const at::Tensor& out = a{s.out};"]
    for k, pointer, broadcast in s.operands:
        if not broadcast:
            lines.append(f"  check_inner(a{k}, out);")
    rows = []
    for k, pointer, broadcast in s.operands:
        const = "" if k == s.out else "const "
        base = pointer[:-1] + "_p"
        lines.append(f"  {const}T* const {base} = a{k}.data_ptr<T>();")
        lines += [f"  const int64_t {pointer}s{a} = nest_stride(a{k}, out, {a});"
                  for a in axes[:-1]]
        offset = " + ".join(f"{INDICES[a]}*{pointer}s{a}" for a in axes[:-1])
        rows.append(f"{const}T* const {pointer} = {base}" + (f" + {offset};" if offset else ";"))
    sizes = [f"n{a} = out.size({a})" for a in axes[1:]]
    if sizes:
        lines.append("  const int64_t " + ", ".join(sizes) + ";")
    width = WIDTH - 2 * (rank + 2)  # the nest's indentation
    first = "lo" if rank == 1 else "0"
    stop = "hi" if rank == 1 else f"n{rank - 1}"
    body = [*[x for row in rows for x in _wrap(row, width)], "#pragma omp simd",
            f"for (int64_t _n = {first}; _n < {stop}; ++_n) {{",
            *["  " + x for x in _wrap(f"{s.target} {'+=' if s.accumulate else '='} {s.value};",
                                      width - 2)],
            "}"]
    for a in reversed(axes[1:-1]):
        i = INDICES[a]
        body = [f"for (int64_t {i} = 0; {i} < n{a}; ++{i}) {{", *["  " + x for x in body], "}"]
    if rank == 1:
        lines += ["  " + x for x in body]
    else:
        lines += ["  for (int64_t _i = lo; _i < hi; ++_i) {", *["    " + x for x in body], "  }"]
    return lines + ["};"]


WIDTH = 96
"""Columns of the C++ lines (the module's limit is 100, less the string's indentation)."""


def _wrap_call(line: str, width: int = WIDTH - 4) -> list[str]:
    """A declaration or call broken after its commas to fit ``width``, continued under its
    first argument."""
    opening = [i for i in (line.find("("), line.find("{")) if i >= 0]
    if len(line) <= width or not opening:
        return [line]
    indent = " " * (min(opening) + 1)
    pieces, depth, last = [], 0, 0  # split at the commas between the call's own arguments
    for n, char in enumerate(line):
        depth += {"(": 1, "{": 1, ")": -1, "}": -1}.get(char, 0)
        if depth == 1 and line.startswith(", ", n):
            pieces.append(line[last:n])
            last = n + 2
    pieces.append(line[last:])
    out = [""]
    for piece in pieces:
        if out[-1] and len(out[-1]) + len(piece) + 2 > width:
            out[-1] += ","
            out.append(indent + piece)
        else:
            out[-1] += (", " if out[-1] else "") + piece
    return out


def _wrap(line: str, width: int) -> list[str]:
    """``line`` broken before its top-level `` + ``/`` - `` after its ``=`` (else before its
    ``*``) to fit ``width``; continuation lines indented four more columns than ``line``."""
    if len(line) <= width:
        return [line]
    lead = " " * (len(line) - len(line.lstrip()) + 4)
    for ops in ((" + ", " - "), ("*",)):
        cuts, depth = [], 0
        for n, char in enumerate(line):
            depth += {"(": 1, "[": 1, ")": -1, "]": -1}.get(char, 0)
            if depth == 0 and n > line.find("= ") and any(line.startswith(op, n) for op in ops):
                cuts.append(n if ops == ("*",) else n + 1)
        if not cuts:
            continue
        pieces = [line[a:b] for a, b in zip([0, *cuts], [*cuts, len(line)])]
        out = [pieces[0].rstrip()]
        for piece in pieces[1:]:
            joined = out[-1] + ("" if ops == ("*",) else " ") + piece
            if len(joined) <= width:
                out[-1] = joined
            else:
                out.append(lead + piece)
        return out
    return [line]


LOADER = '''FUSED = True
"""Run each time loop as the C++ of KERNELS (the loop's statements as ATen calls, each run of
elementwise statements one fused kernel, for what is otherwise a torch operation per sum,
product and function): on a CPU, in float32 and float64, once they build. Read at call time;
False: always the torch operations."""

FUSED_BLOCK_VALUES = 131072
"""BLOCK_VALUES when the kernels run: a block's partial derivatives are one kernel call, so
larger blocks pay fewer calls (measured with the torch bench at the two large sizes: 2**17 was
faster than BLOCK_VALUES' 2**13; 2**14 to 2**19 were within the machine's noise)."""

KERNEL_FLAGS = FLAGS_VALUE

STALE_LOCK_SECONDS = 600
"""A build's lock file older than this (a build takes about 20 s) is taken as left by a build
that was stopped: the kernels are then not built (and the torch operations run) rather than
wait for it."""

_BUILT = {}


def _fused(xs, params, *others):
    """The fused kernels for loops over tensors like xs, or None where they do not run (then
    the loops call torch operations): FUSED off, another device or dtype, autograd recording
    any tensor given (the kernels write through raw pointers, unseen by it: xs, the parameters,
    the function's other arguments, tensors or dicts of them), a parameter whose rows are not
    contiguous, or no build."""
    if (not FUSED or xs.device.type != "cpu" or xs.dtype not in (torch.float32, torch.float64)
            or not all(p.is_contiguous() for p in params.values())):
        return None
    if torch.is_grad_enabled():
        given = [xs, *params.values()]
        for other in others:
            for value in (other.values() if isinstance(other, dict) else [other]):
                given += value.values() if isinstance(value, dict) else [value]
        if any(isinstance(value, torch.Tensor) and value.requires_grad for value in given):
            return None
    if "kernels" not in _BUILT:
        _BUILT["kernels"] = _build_kernels()
    return _BUILT["kernels"]


def _build_kernels():
    """Compile KERNELS once per process with torch.utils.cpp_extension (cached on disk by
    torch, under a name that changes with the source, so a second process loads it). A build
    that fails warns once, saying what it needs, and the torch operations run instead."""
    import hashlib
    import os
    import platform
    import subprocess
    import time
    import warnings
    from torch.utils import cpp_extension
    # built for this processor (-march=native): its name and features are part of the name
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            machine = [line for line in info if line.startswith(("model name", "flags"))][:2]
    except OSError:
        machine = [platform.machine(), platform.processor()]
    digest = hashlib.sha256(repr((KERNELS, KERNEL_FLAGS, machine)).encode()).hexdigest()[:16]
    name = f"gatecalc_{CELL}_{digest}"
    try:  # torch (before 2.14) waits forever for the lock file of a build killed earlier
        lock = os.path.join(cpp_extension._get_build_directory(name, False), "lock")
        age = time.time() - os.path.getmtime(lock)
    except (AttributeError, OSError):
        age = None
    if age is not None and age > STALE_LOCK_SECONDS:
        warnings.warn(f"{CELL}: the fused C++ kernels are not built, so the torch operations "
                      f"run (slower): {lock} is {age / 60:.0f} minutes old, left by a build "
                      "that was stopped, and torch would wait for it forever. If no build of "
                      "them is running, delete it.", RuntimeWarning, stacklevel=3)
        return None
    try:
        return cpp_extension.load_inline(name, KERNELS,
                                         functions=list(KERNEL_NAMES),
                                         extra_cflags=list(KERNEL_FLAGS))
    except (OSError, RuntimeError, ImportError, subprocess.SubprocessError) as error:
        last = (str(error).strip().splitlines() or [type(error).__name__])[-1]
        warnings.warn(f"{CELL}: the fused C++ kernels did not build, so the torch operations "
                      f"run (slower). They need a C++ compiler (g++) and ninja (pip install -e "
                      f"'.[torch]'); with both there, please report it as a gatecalc bug: {last}",
                      RuntimeWarning, stacklevel=3)
        return None
'''


def loader() -> str:
    """The module's part that compiles and loads its kernels (no cell formula: names only)."""
    return LOADER.replace("FLAGS_VALUE", repr(FLAGS))


def source(all_kernels) -> str:
    """The C++ source of a module's kernels, as the module holds it."""
    return PRELUDE + "".join("\n" + k.source() for k in all_kernels)
