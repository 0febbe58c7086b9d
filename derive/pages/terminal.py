"""Plain-text printer of a derivation, for ``python -m derive show``."""

from __future__ import annotations

import sys

from sympy.printing.str import StrPrinter

from derive.ad.adjoint import Adjoint, BackMatmulTerm, Derivation, ElementwiseTerm, OuterTerm
from derive.ad.blocks import BlockPrinting
from derive.naming import adjoint_name


class TextPrinter(BlockPrinting, StrPrinter):
    """SymPy's str printer, in the spec's own notation (``*`` is the elementwise product)."""

    def _print_block(self, block, expr, **kwargs):
        return f"{block.name}({self._print(expr.args[0])})"


def render(derivation: Derivation) -> str:
    cell = derivation.cell
    printer = TextPrinter()
    lines = [f"{cell.name}: {cell.title}", f"source: {cell.source}", "",
             "forward, one step (per unit; @ is a matrix product, * elementwise):"]
    for statement in derivation.forward:
        rhs = (f"{statement.matrix} @ {statement.operand}" if statement.is_linear_map
               else printer.doprint(statement.expr))
        lines.append(f"  {statement.target} = {rhs}")
    lines += ["", "backward, in the order computed (d_v = ∂L/∂v; d_v⁺ arrives from the next step):"]
    for adjoint in derivation.backward:
        lines.append(f"  {adjoint_name(adjoint.target)} = {_rhs(adjoint, printer)}")
    if derivation.aliases:
        lines += ["", "linear-map adjoints equal to an adjoint above:"]
        lines += [f"  {alias} = {target}" for alias, target in derivation.aliases]
    return "\n".join(lines) + "\n"


def _rhs(adjoint: Adjoint, printer: TextPrinter) -> str:
    pieces = [f"{adjoint_name(adjoint.target)}⁺"] if adjoint.seeded else []
    pieces += [term_text(term, printer) for term in adjoint.terms]
    text = " + ".join(pieces) if pieces else "0"
    if adjoint.role == "param_vector" and adjoint.terms:
        text = f"Σ_batch ({text})"
    return text


def term_text(term, printer: TextPrinter) -> str:
    """One adjoint term, in the spec's notation (vectors are columns: ``W_iᵀ @ d_a_i``)."""
    return getattr(sys.modules[__name__], f"_text_{type(term).__name__}")(term, printer)


def _text_ElementwiseTerm(term: ElementwiseTerm, printer: TextPrinter) -> str:
    return printer.doprint(term.adjoint * term.partial)


def _text_BackMatmulTerm(term: BackMatmulTerm, printer: TextPrinter) -> str:
    return f"{term.matrix}ᵀ @ {term.adjoint}"


def _text_OuterTerm(term: OuterTerm, printer: TextPrinter) -> str:
    return f"{term.adjoint} @ {term.operand}ᵀ"
