"""Building blocks: the elementwise functions a cell may call, one table row each.

Each row holds everything the project knows about one function:
  - its derivative, written in terms of the argument ``a`` and the output ``y`` (as a textbook
    does: tanh' = 1 - y**2), which SymPy's ``diff`` uses through ``fdiff``;
  - an independent SymPy definition in built-in functions (``sigmoid(a) = 1/(1+exp(-a))``), used
    to evaluate equations exactly and to check the derivative rule itself;
  - how it prints as NumPy code and as LaTeX.

No rule here knows about any cell. Adding a function is one row.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import Callable

import sympy


@dataclass(frozen=True)
class Block:
    name: str  # the name used in specs
    derivative: Callable[[sympy.Expr, sympy.Expr], sympy.Expr]  # (a, y) -> dy/da
    definition: Callable[[sympy.Expr], sympy.Expr]  # a -> same function in SymPy built-ins
    numpy: str  # code template; {a} is the printed argument
    latex: str  # LaTeX name of the operator
    numpy_out: str = ""  # the same, writing into the array {out} (may be {a} itself)
    # (inner, scale, shift) when f(a) = shift + scale * tanh(inner * a): gates of such functions
    # share one tanh call in the sequence code (a test checks each identity symbolically)
    tanh_form: tuple[float, float, float] | None = None
    numpy_helper: str = ""  # a function the generated module defines, if `numpy` calls one

    @property
    def derivative_needs_argument(self) -> bool:
        """True when dy/da cannot be written from the output y alone (log: 1/a); otherwise the
        argument need not be kept and the output may overwrite it."""
        a, y = sympy.symbols("a y")
        return self.derivative(a, y).has(a)


BLOCKS = MappingProxyType(
    {
        block.name: block
        for block in (
            Block(
                "sigmoid",
                derivative=lambda a, y: y * (1 - y),
                definition=lambda a: 1 / (1 + sympy.exp(-a)),
                numpy="sigmoid({a})",
                numpy_out="sigmoid({a}, out={out})",
                tanh_form=(0.5, 0.5, 0.5),
                latex=r"\sigma",
                numpy_helper=(
                    "def sigmoid(a, out=None):\n"
                    '    """Logistic function 1/(1+exp(-a)) in its tanh form, 0.5 * (1 + tanh(0.5 * a)):\n'
                    "    no overflow, complex-safe. With out (which may be a itself), written there.\"\"\"\n"
                    "    out = numpy.multiply(a, 0.5, out=out)\n"
                    "    numpy.tanh(out, out=out)\n"
                    "    out += 1.0\n"
                    "    out *= 0.5\n"
                    "    return out\n"
                ),
            ),
            Block(
                "tanh",
                derivative=lambda a, y: 1 - y**2,
                definition=sympy.tanh,
                numpy="numpy.tanh({a})",
                numpy_out="numpy.tanh({a}, out={out})",
                tanh_form=(1.0, 1.0, 0.0),
                latex=r"\tanh",
            ),
            Block(
                "exp",
                derivative=lambda a, y: y,
                definition=sympy.exp,
                numpy="numpy.exp({a})",
                numpy_out="numpy.exp({a}, out={out})",
                latex=r"\exp",
            ),
            Block(
                "log",
                derivative=lambda a, y: 1 / a,
                definition=sympy.log,
                numpy="numpy.log({a})",
                numpy_out="numpy.log({a}, out={out})",
                latex=r"\log",
            ),
        )
    }
)

class _BlockFunction(sympy.Function):
    """A SymPy function whose derivative comes from its row in BLOCKS."""

    block_name: str = ""

    @classmethod
    def eval(cls, a):
        """A block of a number is that number (``sigmoid(h_prev - h_prev)`` is 0.5), so no
        generated code calls a block on a plain number; one that is not a finite real
        (``log(0)``) stays, for the spec's checks to refuse with its name."""
        if a.is_Number:
            value = BLOCKS[cls.block_name].definition(a).evalf()
            if value.is_real and value.is_finite:
                return value
        return None

    def fdiff(self, argindex=1):
        if argindex != 1:
            raise sympy.ArgumentIndexError(self, argindex)
        (a,) = self.args
        return BLOCKS[self.block_name].derivative(a, self)

    def _eval_rewrite_as_builtin(self, a, **kwargs):
        return BLOCKS[self.block_name].definition(a)


def _function_class(name: str) -> type[sympy.Function]:
    return type(name, (_BlockFunction,), {"block_name": name, "nargs": 1})


FUNCTIONS = MappingProxyType({name: _function_class(name) for name in BLOCKS})


def block_of(expr: sympy.Expr) -> Block | None:
    """The table row of a function application, or None for anything else."""
    if isinstance(expr, _BlockFunction):
        return BLOCKS[expr.block_name]
    return None


class BlockPrinting:
    """Mixin for SymPy printers (listed before the printer class): a call of a building block
    prints through the printer's ``_print_block(block, expr, **kwargs)``; the one place that
    recognises a block's call for every printer."""

    def _print(self, expr, **kwargs):
        block = block_of(expr)
        if block is not None:
            return self._print_block(block, expr, **kwargs)
        return super()._print(expr, **kwargs)


def to_builtin(expr: sympy.Expr) -> sympy.Expr:
    """Rewrite every block call into SymPy built-ins (exp, tanh, ...), for exact evaluation."""
    return expr.rewrite("builtin")
