"""The NumPy printer of the loop IR: one ``_print_<Node>`` method per statement class."""

from __future__ import annotations

from types import MappingProxyType

import sympy
from sympy.printing.pycode import PythonCodePrinter
from sympy.printing.str import StrPrinter

from derive.ad.blocks import BLOCKS, BlockPrinting, block_of
from derive.targets import ir


class NumPyExprPrinter(BlockPrinting, PythonCodePrinter):
    """One unit's expression as elementwise NumPy code over arrays; ``substitutions`` maps a
    symbol's name to the code it prints as; functions print through ``functions``. Terms and
    factors print in the order they stand (``order='none'``)."""

    def __init__(self, functions, substitutions: dict[str, str] | None = None):
        super().__init__({"fully_qualified_modules": True, "order": "none"})
        self.functions = functions
        self.substitutions = substitutions or {}

    def _print_block(self, block, expr, **kwargs):
        return self.functions[block.name].format(a=self._print(expr.args[0]))

    def _print_Symbol(self, expr):
        return self.substitutions.get(expr.name, expr.name)

    def _print_Function(self, expr):
        raise ValueError(f"no NumPy rule for function {expr.func}")


_SIZES = StrPrinter({"order": "none"})


class NumPyCodePrinter(ir.Printer):
    """Prints IR as NumPy code. Arrays are created in the local ``dtype``."""

    functions = MappingProxyType({name: block.numpy for name, block in BLOCKS.items()})
    functions_out = MappingProxyType({name: block.numpy_out for name, block in BLOCKS.items()})
    dtype = "dtype"

    # -- values -----------------------------------------------------------------------------------

    def size(self, expr) -> str:
        """An integer expression (sizes, indices), its terms in the order built."""
        return _SIZES.doprint(expr)

    def ref(self, ref: ir.Ref) -> str:
        text = ref.name if ref.key is None else f"{ref.name}[{ref.key!r}]"
        if ref.index:
            text += "[" + ", ".join(self._index(i) for i in ref.index) + "]"
        return text

    def _index(self, i) -> str:
        if isinstance(i, ir.NewAxis):
            return "None"
        if isinstance(i, ir.Span):
            return ("" if i.start is None else self.size(i.start)) + ":" + (
                "" if i.stop is None else self.size(i.stop))
        return self.size(i)

    def expr(self, expr: sympy.Expr, places=()) -> str:
        substitutions = {name: self.ref(ref) for name, ref in places}
        return NumPyExprPrinter(self.functions, substitutions).doprint(expr)

    def _scaled(self, part) -> str:
        ref, scale = part
        return self.ref(ref) if scale is None else f"{scale!r}*{self.ref(ref)}"

    def _shape(self, shape) -> str:
        return "(" + ", ".join(self.size(s) for s in shape) + ("," if len(shape) == 1 else "") + ")"

    # -- statements -------------------------------------------------------------------------------

    def _print_Function(self, node: ir.Function) -> list[str]:
        doc = node.doc.split("\n")
        doc = [f'"""{doc[0]}', *doc[1:]] if len(doc) > 1 else [f'"""{doc[0]}"""']
        if len(node.doc.split("\n")) > 1:
            doc.append('"""')
        return [f"def {node.name}({', '.join(node.args)}):",
                *[self.indent + line if line else line for line in doc], *self.block(node.body)]

    def _print_Comment(self, node: ir.Comment) -> list[str]:
        return [f"# {node.text}"]

    def _print_Bind(self, node: ir.Bind) -> list[str]:
        return [f"{node.name} = {self.ref(node.ref)}"]

    def _print_Reshape(self, node: ir.Reshape) -> list[str]:
        return [f"{node.name} = {self.ref(node.ref)}.reshape({', '.join(map(self.size, node.shape))})"]

    def _print_SizeOf(self, node: ir.SizeOf) -> list[str]:
        return [f"{node.name} = {self.ref(node.ref)}.shape[{node.axis}]"]

    def _print_Let(self, node: ir.Let) -> list[str]:
        return [f"{node.name} = {self.size(node.value)}"]

    def _print_Allocate(self, node: ir.Allocate) -> list[str]:
        make = "zeros" if node.zeros else "empty"
        return [f"{node.name} = numpy.{make}({self._shape(node.shape)}, {self.dtype})"]

    def _print_ZerosLike(self, node: ir.ZerosLike) -> list[str]:
        dtype = f", dtype={self.dtype}" if node.in_dtype else ""
        return [f"{node.name} = numpy.zeros_like({self.ref(node.like)}{dtype})"]

    def _print_Copy(self, node: ir.Copy) -> list[str]:
        return [f"{node.name} = {self.ref(node.ref)}.copy()"]

    def _print_LoadState(self, node: ir.LoadState) -> list[str]:
        out = self.ref(node.out) + ("" if node.out.index else "[...]")
        return [f"{out} = {node.mapping}.get({node.key!r}, 0)"]

    def _print_Stack(self, node: ir.Stack) -> list[str]:
        parts = ", ".join(self._scaled(part) for part in node.parts)
        if node.transpose:  # stacked, then transposed into row-major order (.T alone would be
            # column-major, and OpenBLAS's products with it measured 1.5 to 2.6x slower a step)
            return [f"{node.name} = numpy.concatenate(({parts},)).T.copy()"]
        return [f"{node.name} = numpy.concatenate(({parts},))"]

    def _print_StackAxis(self, node: ir.StackAxis) -> list[str]:
        parts = ", ".join(self.ref(r) for r in node.parts)
        return [f"{node.name} = numpy.stack(({parts},), axis={node.axis})"]

    def _print_RowConstants(self, node: ir.RowConstants) -> list[str]:
        values = ", ".join(repr(v) for v in node.values)
        counts = ", ".join(self.size(c) for c in node.counts)
        return [f"{node.name} = numpy.tile(numpy.repeat(numpy.array([{values}], {self.dtype}), "
                f"[{counts}]), ({self.size(node.batch)}, 1))"]

    def _print_AddRows(self, node: ir.AddRows) -> list[str]:
        rows = [" + ".join(self._scaled(part) for part in row)
                or f"numpy.zeros({self.size(size)}, {self.dtype})"
                for row, size in zip(node.rows, node.sizes)]
        return [f"{self.ref(node.out)} += numpy.concatenate(({', '.join(rows)},))"]

    def _print_MatMul(self, node: ir.MatMul) -> list[str]:
        a = self.ref(node.a) + (".T" if node.transpose_a else "")
        b = self.ref(node.b) + (".T" if node.transpose_b else "")
        out = self.ref(node.out)
        if node.new:
            if node.cast:
                return [f"{out} = ({a} @ {b}).astype({self.dtype}, copy=False)"]
            if node.a.index or node.b.index:  # a step's view: numpy.dot costs less than @ there
                return [f"{out} = numpy.dot({a}, {b})"]
            return [f"{out} = {a} @ {b}"]
        if node.accumulate:
            if node.out.index:
                return [f"numpy.add({out}, numpy.dot({a}, {b}), out={out})"]
            return [f"{out} += {a} @ {b}"]
        return [f"numpy.matmul({a}, {b}, out={out})"]

    def _print_Elementwise(self, node: ir.Elementwise) -> list[str]:
        out, expr = self.ref(node.out), node.expr
        if node.new:
            return [f"{out} = {self.expr(expr, node.places)}"]
        if node.accumulate:
            return [f"{out} += {self.expr(expr, node.places)}"]
        block = block_of(expr)
        if block is not None and self.functions_out.get(block.name):
            return [self.functions_out[block.name].format(a=self.expr(expr.args[0], node.places),
                                                          out=out)]
        if isinstance(expr, (sympy.Add, sympy.Mul)) and len(expr.args) > 1:
            func = "add" if isinstance(expr, sympy.Add) else "multiply"
            *rest, last = expr.args
            first = expr.func(*rest, evaluate=False)
            return [f"numpy.{func}({self.expr(first, node.places)}, "
                    f"{self.expr(last, node.places)}, out={out})"]
        if node.out.index:
            return [f"{out} = {self.expr(expr, node.places)}"]
        return [f"{out}[...] = {self.expr(expr, node.places)}"]

    def _print_Activate(self, node: ir.Activate) -> list[str]:
        view = self.ref(node.view)
        if node.scale is None and node.shift is None:
            return [self.functions_out[node.function].format(a=view, out=view)]
        scale = self.ref(node.scale) if isinstance(node.scale, ir.Ref) else repr(node.scale)
        shift = self.ref(node.shift) if isinstance(node.shift, ir.Ref) else repr(node.shift)
        return [f"numpy.tanh({view}, out={view})",
                f"numpy.multiply({view}, {scale}, out={view})",
                f"numpy.add({view}, {shift}, out={view})"]

    def _print_Reduce(self, node: ir.Reduce) -> list[str]:
        value = self.expr(node.expr, node.places)
        if not isinstance(node.expr, sympy.Symbol):
            value = f"({value})"
        axes = node.axes[0] if len(node.axes) == 1 else node.axes
        return [f"{node.name} {'+=' if node.accumulate else '='} {value}.sum(axis={axes})"]

    def _print_Arrive(self, node: ir.Arrive) -> list[str]:
        carried, given = self.ref(node.carried), self.ref(node.given)
        return [f"{node.name} = ({carried} if {node.argument} is None else {carried} + {given})"]

    def _print_ElementwiseBlock(self, node: ir.ElementwiseBlock) -> list[str]:
        return [line for child in node.body for line in self.lines(child)]

    def _print_Loop(self, node: ir.Loop) -> list[str]:
        bounds = (self.size(node.stop) if node.start == 0
                  else f"{self.size(node.start)}, {self.size(node.stop)}")
        loop = f"reversed(range({bounds}))" if node.reverse else f"range({bounds})"
        return [f"for {node.var} in {loop}:", *self.block(node.body)]

    def _print_BlockLoop(self, node: ir.BlockLoop) -> list[str]:
        return [f"{node.size} = max(1, BLOCK_VALUES // max(1, {self.size(node.per_step)}))",
                f"for {node.stop} in range({self.size(node.steps)}, 0, -{node.size}):",
                f"{self.indent}{node.start} = max({node.stop} - {node.size}, 0)",
                *self.block(node.body)]

    def _print_Dict(self, node: ir.Dict) -> list[str]:
        items = [f"{k!r}: {self.ref(v)}" for k, v in node.items]
        one_line = f"{node.name} = {{{', '.join(items)}}}"
        if len(one_line) <= 92:
            return [one_line]
        return [f"{node.name} = {{", *[f"{self.indent}{item}," for item in items], "}"]

    def _print_Return(self, node: ir.Return) -> list[str]:
        return [f"return {', '.join(node.values)}"]

    def _print_CheckArgs(self, node: ir.CheckArgs) -> list[str]:
        call = f"_check_{node.function}({', '.join(node.args)})"
        return [f"{', '.join(node.results)} = {call}" if node.results else call]
