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
from derive.targets.numpy.printer import NumPyCodePrinter

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
        lines = [f"{name} = torch.tensor([{values}], {self._like()})",
                 f"{name} = {name}.repeat_interleave(torch.tensor([{counts}], device={device}))"]
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
