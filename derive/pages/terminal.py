"""Plain-text printer of a derivation, for ``python -m derive show``."""

from __future__ import annotations

import sympy
from sympy.printing.str import StrPrinter

from derive.ad.adjoint import Adjoint, Derivation
from derive.ad.blocks import block_of
from derive.naming import adjoint_name


class TextPrinter(StrPrinter):
    """SymPy's str printer, in the spec's own notation (``*`` is the elementwise product)."""

    def _print(self, expr, **kwargs):
        block = block_of(expr)
        if block is not None:
            return f"{block.name}({self._print(expr.args[0])})"
        return super()._print(expr, **kwargs)


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
    elementwise = [t.expr for t in adjoint.terms if t.kind == "elementwise"]
    if elementwise:
        pieces.append(printer.doprint(sympy.Add(*elementwise)))
    for term in adjoint.terms:
        if term.kind == "back_matmul":
            pieces.append(f"{term.matrix}ᵀ @ {term.adjoint}")
        elif term.kind == "outer":
            pieces.append(f"{term.adjoint} @ {term.operand}ᵀ")
    text = " + ".join(pieces) if pieces else "0"
    if adjoint.role == "param_vector" and elementwise:
        text = f"Σ_batch ({text})"
    return text
