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
    description: str
    numpy_helper: str = ""  # a function the generated module defines, if `numpy` calls one


BLOCKS = MappingProxyType(
    {
        block.name: block
        for block in (
            Block(
                "sigmoid",
                derivative=lambda a, y: y * (1 - y),
                definition=lambda a: 1 / (1 + sympy.exp(-a)),
                numpy="sigmoid({a})",
                latex=r"\sigma",
                description="logistic function 1/(1+exp(-a))",
                numpy_helper=(
                    "def sigmoid(a):\n"
                    '    """Logistic function 1/(1+exp(-a)) in its tanh form: no overflow, complex-safe."""\n'
                    "    return 0.5 * (1.0 + numpy.tanh(0.5 * a))\n"
                ),
            ),
            Block(
                "tanh",
                derivative=lambda a, y: 1 - y**2,
                definition=sympy.tanh,
                numpy="numpy.tanh({a})",
                latex=r"\tanh",
                description="hyperbolic tangent",
            ),
            Block(
                "exp",
                derivative=lambda a, y: y,
                definition=sympy.exp,
                numpy="numpy.exp({a})",
                latex=r"\exp",
                description="exponential",
            ),
            Block(
                "log",
                derivative=lambda a, y: 1 / a,
                definition=sympy.log,
                numpy="numpy.log({a})",
                latex=r"\log",
                description="natural logarithm",
            ),
        )
    }
)

class _BlockFunction(sympy.Function):
    """A SymPy function whose derivative comes from its row in BLOCKS."""

    block_name: str = ""

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


def to_builtin(expr: sympy.Expr) -> sympy.Expr:
    """Rewrite every block call into SymPy built-ins (exp, tanh, ...), for exact evaluation."""
    return expr.rewrite("builtin")
