"""LaTeX printer: SymPy expressions of a derivation -> LaTeX, with the article's notation.

Names come from ``naming.latex_name``; products print as ⊙ (elementwise), terms in the order they
stand (``order='none'``), block functions as their ``blocks`` row says (σ, tanh, ...). Strict: a
symbol the cell does not know raises instead of printing something wrong.
"""

from __future__ import annotations

from sympy.printing.latex import LatexPrinter

from derive.ad.blocks import BlockPrinting
from derive.ad.cell import Cell
from derive.naming import latex_name


class CellLatexPrinter(BlockPrinting, LatexPrinter):
    def __init__(self, cell: Cell, known: frozenset[str], time: str = "t"):
        super().__init__({"order": "none", "mul_symbol": r" \odot "})
        self.cell = cell
        self.known = known
        self.time = time

    def _print_block(self, block, expr, **kwargs):
        text = rf"{block.latex}\left({self._print(expr.args[0])}\right)"
        # LatexPrinter hands a function its power as exp=, expecting it printed
        return f"{text}^{{{kwargs['exp']}}}" if kwargs.get("exp") else text

    def _print_Symbol(self, expr, style="plain"):
        if expr.name not in self.known:
            raise ValueError(f"unknown symbol {expr.name!r} in a LaTeX page")
        return latex_name(expr.name, self.cell, self.time)
