"""Figures of a page: the cell drawn from its equations (Graphviz's ``dot`` lays it out), and the
gradient flow measured with the generated module (matplotlib plots it).

Both are deterministic (same spec, same bytes) and optional: where ``dot`` or matplotlib is
missing, the figure is a ``Figure`` that says so, and the page still builds.
"""

from __future__ import annotations

import functools
import re
import shutil
import subprocess
from dataclasses import dataclass
from html import escape

import sympy

from derive.ad.adjoint import Derivation
from derive.ad.blocks import block_of
from derive.ad.cell import Cell, prev_name
from derive.pages.model import Figure

DOT = "dot"


class _Graph:
    """The cell's equations as a dot graph: a node per vector, operator nodes for ⊙ and +, a box
    per building block; weights label the edges they act along."""

    def __init__(self, cell: Cell):
        self.cell = cell
        self.lines: list[str] = []
        self.count = 0
        self.params = {p.name for p in cell.params}
        self.maps = {str(m.symbol): m for m in cell.linear_maps}

    def node(self, label: str, shape: str, style: str = "") -> str:
        self.count += 1
        name = f"n{self.count}"
        self.lines.append(f'  {name} [label=<{label}>, shape={shape}{style}];')
        return name

    def edge(self, tail: str, head: str, label: str = "", style: str = "") -> None:
        text = f' [label=<{label}>{style}]' if label else (f' [{style.lstrip(", ")}]' if style else "")
        self.lines.append(f"  {tail} -> {head}{text};")

    def inputs(self, expr: sympy.Expr, head: str, values: dict[str, str]) -> None:
        """Draw ``expr`` feeding ``head``: a sum of weighted vectors becomes labelled edges."""
        terms = expr.args if isinstance(expr, sympy.Add) and self._weighted(expr) else None
        for term in terms if terms is not None else (expr,):
            if terms is not None and str(term) in self.params:
                continue  # a bias: not drawn
            tail, label = self.draw(term, values)
            self.edge(tail, head, label)

    def _weighted(self, expr: sympy.Add) -> bool:
        return all(str(a) in self.maps or str(a) in self.params or self._diagonal(a)
                   for a in expr.args)

    def _diagonal(self, expr) -> tuple[str, sympy.Expr] | None:
        if isinstance(expr, sympy.Mul) and len(expr.args) == 2:
            a, b = expr.args
            if str(a) in self.params:
                return str(a), b
            if str(b) in self.params:
                return str(b), a
        return None

    def draw(self, expr: sympy.Expr, values: dict[str, str]) -> tuple[str, str]:
        """(node, edge label) of a subexpression."""
        name = str(expr)
        if name in values:
            return values[name], ""
        if name in self.maps:
            m = self.maps[name]
            return values[m.operand], _html(m.matrix, self.cell)
        diagonal = self._diagonal(expr)
        if diagonal is not None and str(diagonal[1]) in values:
            return values[str(diagonal[1])], _html(diagonal[0], self.cell) + " ⊙"
        block = block_of(expr)
        if block is not None:
            head = self.node(_FUNCTION_LABELS.get(block.name, block.name), "box",
                             ', style="rounded,filled", fillcolor="#fff2b3"')
            self.inputs(expr.args[0], head, values)
            return head, ""
        if isinstance(expr, sympy.Number):
            return self.node(escape(str(expr)), "plaintext"), ""
        if isinstance(expr, sympy.Mul) and expr.args[0] == -1:
            head = self.node("−", "circle", ", width=0.3, fixedsize=true")
            self.inputs(sympy.Mul(*expr.args[1:]), head, values)
            return head, ""
        if isinstance(expr, sympy.Pow) and expr.exp.is_Integer:
            head = self.node(f"( · )<SUP>{expr.exp}</SUP>", "circle")
            self.inputs(expr.base, head, values)
            return head, ""
        symbol = {sympy.Add: "+", sympy.Mul: "⊙"}.get(type(expr))
        if symbol is None:
            raise ValueError(f"cannot draw {expr!r}")
        args = [a for a in expr.args if str(a) not in self.params]  # biases are not drawn
        if len(args) == 1:
            return self.draw(args[0], values)
        head = self.node(symbol, "circle", ", width=0.3, fixedsize=true")
        for arg in args:
            tail, label = self.draw(arg, values)
            self.edge(tail, head, label)
        return head, ""


_FUNCTION_LABELS = {"sigmoid": "σ", "tanh": "tanh", "exp": "exp", "log": "log"}


def _html(name: str, cell: Cell, time: str = "t") -> str:
    """A graphviz HTML label for a code name: ``c_tilde`` at t -> c̃<SUB>t</SUB>."""
    params = {p.name for p in cell.params}
    if name.endswith("_prev") and name[:-5] in cell.state_names:
        name, time = name[:-5], "t−1"
    base, _, rest = name.partition("_")
    if rest.startswith("tilde"):
        base, rest = base + "\u0303", rest[len("tilde"):].lstrip("_")
    subscript = rest if name in params else ",".join(x for x in (rest, time) if x)
    return f"<I>{escape(base)}</I><SUB>{escape(subscript)}</SUB>" if subscript else \
        f"<I>{escape(base)}</I>"


def dot_source(cell: Cell) -> str:
    """The cell's diagram in the dot language, built from the spec's equations."""
    graph = _Graph(cell)
    values: dict[str, str] = {}
    inputs = [cell.input[0], *(prev_name(s) for s in cell.state_names)]
    graph.lines.append("  { rank=source;")
    for name in inputs:
        values[name] = graph.node(_html(name, cell), "ellipse",
                                  ', style=filled, fillcolor="#dceeff"')
    graph.lines.append("  }")
    for eq in cell.equations:
        top, label = graph.draw(eq.expr, values)
        state = eq.target in cell.state_names
        fill = "#d9f2d9" if state else "#ffffff"
        values[eq.target] = graph.node(_html(eq.target, cell), "ellipse",
                                       f', style=filled, fillcolor="{fill}"')
        graph.edge(top, values[eq.target], label)
    for s in cell.state_names:  # the recurrent edges: this step's state is the next one's
        graph.edge(values[s], values[prev_name(s)], "<I>t</I> → <I>t</I>+1",
                   ', style=dashed, color="#888888", constraint=false')
    header = (f'digraph "{cell.name}" {{\n  id="{cell.name}-cell"; rankdir=LR; nodesep=0.25; '
              'ranksep=0.35;\n  node [fontname="Helvetica", fontsize=12, height=0.3];\n'
              '  edge [fontname="Helvetica", fontsize=10, arrowsize=0.6];')
    return "\n".join([header, *graph.lines, "}"]) + "\n"


@dataclass(frozen=True)
class Drawn:
    svg: str | None
    pdf: bytes | None
    missing: str  # "" when drawn; otherwise the reason, as a PROSE key ("no_dot")


@functools.lru_cache(maxsize=None)
def _run_dot(source: str, fmt: str) -> bytes | None:
    if shutil.which(DOT) is None:
        return None
    result = subprocess.run([DOT, f"-T{fmt}"], input=source.encode("utf-8"),
                            capture_output=True, timeout=60, check=True)
    return result.stdout


def cell_diagram(cell: Cell) -> Drawn:
    source = dot_source(cell)
    svg = _run_dot(source, "svg")
    if svg is None:
        return Drawn(None, None, "no_dot")
    return Drawn(_clean_svg(svg.decode("utf-8")), _run_dot(source, "pdf"), "")


def _clean_svg(svg: str) -> str:
    """dot's SVG without its prolog and comments (which name the Graphviz version)."""
    svg = re.sub(r"<\?xml[^>]*\?>\s*|<!DOCTYPE[^>]*>\s*|<!--.*?-->\s*", "", svg, flags=re.S)
    return svg.strip() + "\n"


def figure(name: str, caption: str, drawn: Drawn, reasons: dict[str, str]) -> Figure:
    return Figure(name, caption, drawn.svg, drawn.pdf, reasons.get(drawn.missing, ""))


def missing_tools() -> list[str]:
    """What the figures need and this machine lacks, each with how to get it (empty: every
    figure can be drawn). Pages built without a tool say so in place of the figure."""
    import importlib.util
    missing = []
    if shutil.which(DOT) is None:
        missing.append("Graphviz's dot (the cell diagrams): apt-get install graphviz")
    if importlib.util.find_spec("matplotlib") is None:
        missing.append("matplotlib (the gradient-flow plots): pip install -e '.[docs]'")
    return missing
