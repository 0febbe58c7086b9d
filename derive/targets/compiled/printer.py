"""The compiled printer of the loop IR: the NumPy printer's Python for everything around the time
loops, and each time loop (``Loop``/``BlockLoop`` at a function's top level) moved into a numba
function compiled once per dtype, which the Python function calls with the arrays it needs.

Inside a compiled loop each elementwise statement is an explicit loop nest over its output's
axes (``loops.py``; an array expression where a rank is unknown), ``tanh`` and ``sigmoid`` are
``runtime``'s, whose scalar forms LLVM vectorises, products are ``numpy.dot`` (BLAS through
scipy), and no step pays a Python call. ``stepped.py`` prints the module's other path from the
same statements: the loop in Python, each run of elementwise statements one such kernel.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from types import MappingProxyType

import sympy

from derive.ad.blocks import BLOCKS
from derive.targets import ir
from derive.targets.compiled import loops
from derive.targets.compiled.ranks import infer_ranks
from derive.targets.numpy.printer import NumPyCodePrinter, NumPyExprPrinter

RUNTIME_FUNCTIONS = ("tanh", "sigmoid")
"""Element functions the runtime provides as vectorisable ufuncs; the rest print as NumPy."""


class CompiledExprPrinter(NumPyExprPrinter):
    """As NumPy's, but small integer powers print as products (numba would call ``pow``),
    always in parentheses: SymPy prints a denominator's power after a ``/`` without them, even
    in a negative product, so ``a/s**2`` would read ``a/s*s``."""

    def _print_Pow(self, expr):
        base, exp = expr.args
        if _small_power(expr):
            factor = self.parenthesize(base, sympy.printing.precedence.PRECEDENCE["Mul"])
            return "(" + "*".join([factor] * int(exp)) + ")"
        return super()._print_Pow(expr)


def _small_power(expr) -> bool:
    """A power printed as a product: ``s**2`` to ``s**4``."""
    return isinstance(expr, sympy.Pow) and expr.exp.is_Integer and 2 <= int(expr.exp) <= 4


@dataclass(frozen=True)
class Kernel:
    """A compiled function: ``name(args) -> results`` and its body's lines; ``products``: it
    multiplies matrices (then it runs with one BLAS thread, see ``runtime.one_blas_thread``)."""

    name: str
    args: tuple[str, ...]
    results: tuple[str, ...]
    body: tuple[str, ...]
    products: bool = True


def _function_templates():
    templates = {}
    for name, block in BLOCKS.items():
        templates[name] = f"{name}({{a}})" if name in RUNTIME_FUNCTIONS else block.numpy
    return MappingProxyType(templates)


class CompiledCodePrinter(NumPyCodePrinter):
    """Prints functions as Python around compiled loops; ``kernels`` collects the loops."""

    functions = _function_templates()

    def __init__(self):
        self.kernels: list[Kernel] = []
        self.in_kernel = False
        self.ranks_at: dict[int, dict[str, int]] = {}

    def expr(self, expr: sympy.Expr, places=()) -> str:
        substitutions = {name: self.ref(ref) for name, ref in places}
        return CompiledExprPrinter(self.functions, substitutions).doprint(expr)

    # -- a function: Python with its loops compiled ----------------------------------------------

    def _print_Function(self, node: ir.Function) -> list[str]:
        self.ranks_at = infer_ranks(node)
        pieces: list[list[str] | ir.Node] = []
        for child in node.body:
            pieces.append(child if isinstance(child, (ir.Loop, ir.BlockLoop))
                          else self.lines(child))
        if not any(isinstance(p, ir.Node) for p in pieces):
            return super()._print_Function(node)
        body, count = [], 0
        for k, piece in enumerate(pieces):
            if isinstance(piece, list):
                body += piece
                continue
            count += 1
            name = f"_{node.name}_loop" + ("" if count == 1 else f"_{count}")
            after = [line for p in pieces[k + 1:] for line in
                     (p if isinstance(p, list) else self._kernel_lines(p))]
            kernel = self._kernel(name, piece, [a.split("=")[0] for a in node.args], body, after)
            self.kernels.append(kernel)
            call = f"{name}({', '.join(kernel.args)})"
            body.append(f"{', '.join(kernel.results)} = {call}" if kernel.results else call)
        printed = ir.Function(node.name, node.args, node.doc, ())
        return [*super()._print_Function(printed), *[self.indent + line for line in body]]

    def _kernel_lines(self, loop: ir.Node) -> list[str]:
        self.in_kernel = True
        try:
            return self.lines(loop)
        finally:
            self.in_kernel = False

    def _kernel(self, name, loop, args, before, after) -> Kernel:
        """The loop's kernel: its arguments are the names it reads that exist before it; its
        results the names it binds that are read after it."""
        lines = self._kernel_lines(loop)
        read, bound = _names(lines)
        known = set(args) | set(_names(before)[1])
        later = set(_names(after)[0])
        inputs = tuple(n for n in read if n in known)
        outputs = tuple(n for n in bound if n in later)
        return Kernel(name, inputs, outputs, tuple(lines))

    def print_kernel(self, kernel: Kernel) -> str:
        lines = [*(["@one_blas_thread"] if kernel.products else []), "@numba.njit(**JIT)",
                 f"def {kernel.name}({', '.join(kernel.args)}):",
                 *[self.indent + line for line in kernel.body]]
        if kernel.results:  # in parentheses when long, so the layout can wrap it
            values = ", ".join(kernel.results)
            lines.append(f"{self.indent}return ({values})" if len(values) > 80
                         else f"{self.indent}return {values}")
        return "\n".join(lines) + "\n"

    def _print_CheckArgs(self, node: ir.CheckArgs) -> list[str]:
        """The NumPy checks, then the dtype refused unless the compiled loops are built for it,
        then the stepped path taken for large sizes (``_stepped_path``)."""
        lines = super()._print_CheckArgs(node)
        if "dtype" not in node.results:
            return lines
        names, call = lines[0].split(" = ", 1)
        return [f"{names} = _compiled_dtype({call})",
                "if _stepped_path(params, batch):",
                f"{self.indent}return _stepped_{node.function}({', '.join(node.args)})"]

    # -- statements inside a compiled loop -------------------------------------------------------

    def _print_Loop(self, node: ir.Loop) -> list[str]:
        if not (self.in_kernel and node.reverse):
            return super()._print_Loop(node)
        start = "-1" if node.start == 0 else f"{self.size(node.start)} - 1"
        return [f"for {node.var} in range({self.size(node.stop)} - 1, {start}, -1):",
                *self.block(node.body)]

    def _print_MatMul(self, node: ir.MatMul) -> list[str]:
        if not self.in_kernel:
            return super()._print_MatMul(node)
        a = self.ref(node.a) + (".T" if node.transpose_a else "")
        b = self.ref(node.b) + (".T" if node.transpose_b else "")
        out = self.ref(node.out)
        if node.new:
            return [f"{out} = numpy.dot({a}, {b})"]
        if node.accumulate:
            return [f"{out} += numpy.dot({a}, {b})"]
        return [f"numpy.dot({a}, {b}, {out})"]

    def _print_Elementwise(self, node: ir.Elementwise) -> list[str]:
        if not self.in_kernel:
            return super()._print_Elementwise(node)
        symbols = {s.name for s in node.expr.free_symbols}
        nest = loops.nest(node.out, node.places, symbols, self.ranks_at.get(id(node), {}),
                          node.new, self.size)
        if nest is None:
            return self._array_expression(node)
        value = CompiledExprPrinter(self.functions, dict(nest.elements)).doprint(node.expr)
        head = [f"{node.out.name} = numpy.empty_like({self.ref(nest.like)})"] if node.new else []
        ranks = {**self.ranks_at[id(node)], node.out.name: nest.rank} if node.new else \
            self.ranks_at[id(node)]
        out = loops.element(node.out, ranks, nest.rank, self.size)
        return head + self._nest(node.out, nest.rank,
                                 f"{out} {'+=' if node.accumulate else '='} {value}")

    def _array_expression(self, node: ir.Elementwise) -> list[str]:
        """A statement whose ranks are not known: one numba array expression."""
        out, value = self.ref(node.out), self.expr(node.expr, node.places)
        if node.new:
            return [f"{out} = {value}"]
        if node.accumulate:
            return [f"{out} += {value}"]
        return [f"{out}{'' if node.out.index else '[...]'} = {value}"]

    def _nest(self, out: ir.Ref, rank: int, line: str) -> list[str]:
        """``line`` inside loops over the axes of ``out``, outermost first."""
        lines, shape = [line], f"{self.ref(out)}.shape"
        for axis in reversed(range(rank)):
            lines = [f"for {loops.INDICES[axis]} in range({shape}[{axis}]):",
                     *[self.indent + text for text in lines]]
        return lines

    def _print_Activate(self, node: ir.Activate) -> list[str]:
        if not self.in_kernel:
            return super()._print_Activate(node)
        ranks = self.ranks_at.get(id(node), {})
        refs = {"v": node.view, **{k: r for k, r in (("scale", node.scale), ("shift", node.shift))
                                   if isinstance(r, ir.Ref)}}
        nest = loops.nest(node.view, tuple(refs.items()), set(refs), ranks, False, self.size)
        at = dict(nest.elements) if nest else {k: self.ref(r) for k, r in refs.items()}
        if node.scale is None and node.shift is None:
            value = self.functions[node.function].format(a=at["v"])
        else:
            scale, shift = (at.get(k, repr(c)) for k, c in (("scale", node.scale),
                                                              ("shift", node.shift)))
            value = f"{shift} + {scale}*tanh({at['v']})"
        if nest is None:
            return [f"{at['v']}{'' if node.view.index else '[...]'} = {value}"]
        return self._nest(node.view, nest.rank, f"{at['v']} = {value}")


def _names(lines: list[str]) -> tuple[list[str], list[str]]:
    """Names the code reads and names it binds, each in order of first appearance; built-ins
    and the module's globals are left out of the reads by the caller's ``known`` (not here: a
    spec may name a value after a built-in, ``pow``, and then it is an argument)."""
    tree = ast.parse("\n".join(_dedent(lines)) or "pass")
    names = sorted((n for n in ast.walk(tree) if isinstance(n, ast.Name)),
                   key=lambda n: (n.lineno, n.col_offset))
    read = [n.id for n in names if not isinstance(n.ctx, ast.Store)]
    bound = [n.id for n in names if isinstance(n.ctx, ast.Store)]
    return list(dict.fromkeys(read)), list(dict.fromkeys(bound))


def _dedent(lines: list[str]) -> list[str]:
    return [line for line in lines if line.strip()]
