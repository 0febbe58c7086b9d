"""The notation paragraph and the stacked form, both read off the cell's equations: which
values are gates, candidates and states, and which linear maps stack into one matrix product."""

from __future__ import annotations

import sympy

from derive.ad.adjoint import Derivation
from derive.ad.blocks import block_of
from derive.ad.cell import Cell, prev_name
from derive.ad.maps import MapGroup, stacks
from derive.naming import latex_name
from derive.pages.model import Equation, Paragraph
from derive.pages.prose import PROSE
from derive.pages.words import ARTICLE, GATES


def notation(cell: Cell, lang: str) -> Paragraph:
    """Each equation's value by its role: gates (a sigmoid), candidates (tanh of linear maps,
    not a state), the states carried to the next step; the symbols the equations use."""
    t = PROSE[lang]
    maps = {m.symbol for m in cell.linear_maps}
    gates, candidates, others = [], [], []
    for eq in cell.equations:
        name = f"${latex_name(eq.target, cell)}$"
        block = block_of(eq.expr)
        if block is not None and block.name == "sigmoid":
            word = GATES[lang].get(eq.target)
            gates.append(f"{name}{t['paren'].format(word)}" if word else name)
        elif eq.target in cell.state_names:
            continue
        elif eq.expr.free_symbols & maps:
            candidates.append(name)
        else:
            others.append(name)
    gate_names = {eq.target for eq in cell.equations
                  if (b := block_of(eq.expr)) is not None and b.name == "sigmoid"}
    states = [f"${latex_name(s, cell)}$" + (
        t["paren"].format(t["external_state"]) if s == cell.output else
        "" if s in gate_names else t["paren"].format(t["memory_cell"]))
        for s in cell.state_names]
    sentences = [t["notation_symbols"]]
    if gates:
        sentences.append(t["notation_gates"].format(t["list_sep"].join(gates)))
    if candidates:
        sentences.append(t["notation_candidates"].format(t["list_sep"].join(candidates)))
    sentences.append(t["notation_states"].format(t["list_sep"].join(states)))
    if others:
        sentences.append(t["notation_others"].format(t["list_sep"].join(others)))
    uses = {b.name for eq in cell.equations for f in eq.expr.atoms(sympy.Function)
            if (b := block_of(f)) is not None}
    if "sigmoid" in uses:
        sentences.append(t["notation_sigma"])
    return Paragraph(t["sentence_sep"].join(sentences))


def stacked(derivation: Derivation, lang: str) -> list:
    """The stacked form: one matrix product per stack of linear maps that share an operand
    and feed the same sums; a map alone is not restated. Matrices are named after the real
    ones (W, U, ...); the article's W is cited where the stack is the article's, the maps of
    the input and the previous output side by side."""
    cell = derivation.cell
    out = []
    for stack in stacks(derivation):
        if len(stack) == 1 and len(stack[0].rows) == 1:
            continue
        out.append(Equation((_stack_latex(stack, cell),)))
        if {g.operand for g in stack} == {cell.input[0], prev_name(cell.output)}:
            out.append(Paragraph(PROSE[lang]["stacked_article"].format(
                matrix=f"${_label(stack, cell)}$", article=ARTICLE[lang])))
    return out


def _stack_latex(stack: tuple[MapGroup, ...], cell: Cell) -> str:
    first = stack[0]
    n = len(first.rows)

    def column(items: list[str]) -> str:
        return (items[0] if len(items) == 1 else
                r"\begin{bmatrix} " + r" \\ ".join(items) + r" \end{bmatrix}")

    results = column([" + ".join(latex_name(g.rows[k].symbol, cell) for g in stack)
                      for k in range(n)])
    blocks = [" & ".join(latex_name(g.rows[k].matrix, cell) for g in stack) for k in range(n)]
    matrix = (blocks[0] if n == 1 and len(stack) == 1 else
              r"\begin{bmatrix} " + r" \\ ".join(blocks) + r" \end{bmatrix}")
    operands = column([latex_name(g.operand, cell) for g in stack])
    height = _collapse([cell.param(r.matrix).shape[0] for r in first.rows])
    width = _collapse([cell.dim_of(g.operand) for g in stack])
    shape = (rf"\mathbb{{R}}^{{{height} \times ({width})}}" if "+" in width else
             rf"\mathbb{{R}}^{{{height} \times {width}}}")
    return rf"{results} = {matrix} \, {operands}, \quad {_label(stack, cell)} \in {shape}"


def _label(stack: tuple[MapGroup, ...], cell: Cell) -> str:
    """A stack's name after its matrices: ``W`` for W_i, W_f, ...; side by side ``[W \\; U]``."""
    def name(group: MapGroup) -> str:
        heads = {r.matrix.split("_")[0] for r in group.rows}
        if len(group.rows) > 1 and len(heads) == 1:
            return heads.pop()
        return " ".join(latex_name(r.matrix, cell) for r in group.rows) if len(group.rows) == 1 \
            else r"\begin{bmatrix} " + r" \\ ".join(latex_name(r.matrix, cell)
                                                     for r in group.rows) + r" \end{bmatrix}"
    heads = {r.matrix.split("_")[0] for g in stack for r in g.rows}
    if len(stack) > 1 and len(heads) == 1 and all(len(g.rows) > 1 for g in stack):
        return heads.pop()  # fgr's R_ii ... R_oo: one matrix R
    names = [name(g) for g in stack]
    return names[0] if len(names) == 1 else "[" + r" \;\; ".join(names) + "]"


def _collapse(dims: list[str]) -> str:
    """["D", "D", "D", "D"] -> "4D"."""
    counts = {d: dims.count(d) for d in dict.fromkeys(dims)}
    return " + ".join(d if n == 1 else f"{n}{d}" for d, n in counts.items())
