"""Derivation documents: a Derivation -> a Page (a few block kinds) -> Markdown, HTML, LaTeX.

Every equation on a page is printed from the same SymPy objects that generate the code; every
rewrite it shows has been confirmed by ``checks``. Pages are deterministic: the same spec and the
same verification report give the same bytes.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from html import escape

import sympy

from derive.ad.adjoint import Adjoint, BackMatmulTerm, Derivation, ElementwiseTerm, OuterTerm
from derive.ad.cell import Cell, prev_name
from derive.ad.blocks import to_builtin
from derive.ad.checks import checked_steps
from derive.targets.numpy.module import known_names
from derive.pages.latex import CellLatexPrinter
from derive.pages.mathml import to_mathml
from derive.naming import latex_name
from derive.pages.prose import PROSE
from derive.targets.plan import plan_groups
from derive.io.writer import PLACEHOLDER, sha256

FORMATS = ("md", "html", "tex")


@dataclass(frozen=True)
class Block:
    kind: str  # "h1", "h2", "p", "eq", "code", "table"
    text: str = ""  # prose, LaTeX (eq) or code
    rows: tuple[tuple[str, ...], ...] = ()  # table rows, the first is the header


@dataclass(frozen=True)
class Page:
    name: str
    title: str
    lang: str
    tags: tuple[str, ...]
    blocks: tuple[Block, ...]


# -- building pages -------------------------------------------------------------------------------


def cell_page(derivation: Derivation, lang: str, report: dict | None, module: str) -> Page:
    """``module``: the generated module's file content, shown in part and matched against the
    report's module hashes."""
    cell = derivation.cell
    t = PROSE[lang]
    printer = CellLatexPrinter(cell, known_names(derivation))
    tex = printer.doprint
    blocks = [Block("h1", f"{cell.name}: {cell.title}"), Block("p", f"{t['source']}: {cell.source}"),
              Block("p", t["notation"])]

    blocks += [Block("h2", t["forward"]), Block("p", t["forward_intro"])]
    for eq in cell.equations:
        blocks.append(Block("eq", f"{latex_name(eq.target, cell)} = {tex(eq.display)}"))

    stacked = _stacked_blocks(derivation)
    if stacked:
        blocks += [Block("h2", t["stacked"]), Block("p", t["stacked_intro"]), *stacked]

    blocks += [Block("h2", t["local"]), Block("p", t["local_intro"])]
    for step in checked_steps(derivation):
        lhs = rf"\frac{{\partial {latex_name(step.target, cell)}}}{{\partial {latex_name(step.wrt, cell)}}}"
        derived = tex(step.derived)
        same = step.builtin == to_builtin(step.derived)  # only the printing would differ
        rhs = derived if same else f"{tex(step.builtin)} = {derived}"
        blocks.append(Block("eq", f"{lhs} = {rhs}"))

    blocks += [Block("h2", t["adjoint"]), Block("p", t["adjoint_intro"])]
    for adjoint in derivation.backward:
        if adjoint.role not in ("param_vector", "param_matrix"):
            blocks.append(Block("eq", _adjoint_latex(adjoint, cell, tex)))
    if derivation.aliases:
        equal = ", ".join(f"{latex_name(a, cell)} = {latex_name(b, cell)}"
                          for a, b in derivation.aliases)
        blocks.append(Block("p", t["aliases"]))
        blocks.append(Block("eq", equal))

    blocks += [Block("h2", t["params"]), Block("p", t["params_intro"])]
    for adjoint in derivation.backward:
        if adjoint.role in ("param_vector", "param_matrix"):
            blocks.append(Block("eq", _param_latex(adjoint, cell, tex)))

    blocks += [Block("h2", t["bptt"]), Block("p", t["bptt_intro"])]
    for s in cell.state_names:
        seed = rf"\delta {latex_name(s, cell)}^{{(t+1)}}"
        arriving = (rf"{seed} = \left. \delta {latex_name(prev_name(s), cell)} "
                    rf"\right|_{{t \to t+1}}")
        if s == cell.output:
            arriving += (rf", \quad \frac{{\partial L}}{{\partial y_{{t}}}} \text{{ "
                         rf"{t['added_to']} }} \delta {latex_name(s, cell)}")
        blocks.append(Block("eq", arriving))
    blocks.append(Block("p", t["bptt_end"]))

    blocks += [Block("h2", t["code"]), Block("p", t["code_intro"]),
               Block("code", _function_source(module, "step_backward"))]
    blocks += [Block("h2", t["verification"]),
               *_verification_blocks(cell.name, report, lang, sha256(module))]
    return Page(cell.name, f"{cell.name}: {cell.title}", lang,
                ("gatecalc", "LSTM", cell.name, t["tag"]), tuple(blocks))


def _adjoint_latex(adjoint: Adjoint, cell: Cell, tex) -> str:
    target = adjoint.target
    lhs = rf"\delta {latex_name(target, cell)}"
    pieces = [rf"\delta {latex_name(target, cell)}^{{(t+1)}}"] if adjoint.seeded else []
    elementwise = [t.adjoint * t.partial for t in adjoint.terms if isinstance(t, ElementwiseTerm)]
    if elementwise:
        pieces.append(tex(sympy.Add(*elementwise, evaluate=False)))
    for term in adjoint.terms:
        if isinstance(term, BackMatmulTerm):
            pieces.append(rf"{latex_name(term.matrix, cell)}^{{\top}} {latex_name(str(term.adjoint), cell)}")
    return f"{lhs} = {' + '.join(pieces) if pieces else '0'}"


def _param_latex(adjoint: Adjoint, cell: Cell, tex) -> str:
    lhs = rf"\frac{{\partial L}}{{\partial {latex_name(adjoint.target, cell)}}}"
    pieces = []
    elementwise = [t.adjoint * t.partial for t in adjoint.terms if isinstance(t, ElementwiseTerm)]
    if elementwise:
        pieces.append(tex(sympy.Add(*elementwise, evaluate=False)))
    for term in adjoint.terms:
        if isinstance(term, OuterTerm):
            pieces.append(rf"{latex_name(str(term.adjoint), cell)} \, {latex_name(term.operand, cell)}^{{\top}}")
    if not pieces:
        return f"{lhs} = 0"
    body = " + ".join(pieces)
    return rf"{lhs} = \sum_{{t=1}}^{{T}} \left({body}\right)"


def _stacked_blocks(derivation: Derivation) -> list[Block]:
    """The article's stacked form, for each group of linear maps that share an operand; groups
    whose maps feed the same sums (same adjoints) are shown side by side as one matrix."""
    cell = derivation.cell
    groups = plan_groups(derivation)
    blocks, done = [], set()
    for g in groups:
        if g.buffer in done:
            continue
        done.add(g.buffer)
        together = [h for h in groups if h.buffer == g.buffer]
        rows = []
        for k in range(len(g.slots)):
            rows.append(" + ".join(latex_name(h.slots[k].symbol, cell) for h in together))
        matrix = r" \\ ".join(" & ".join(latex_name(h.slots[k].matrix, cell) for h in together)
                              for k in range(len(g.slots)))
        operands = r" \\ ".join(latex_name(h.operand, cell) for h in together)
        height = _collapse(" + ".join(cell.param(s.matrix).shape[0] for s in g.slots))
        width = " + ".join(cell.dim_of(h.operand) for h in together)
        shape = rf"\mathbb{{R}}^{{{height} \times ({width})}}" if len(together) > 1 else \
            rf"\mathbb{{R}}^{{{height} \times {width}}}"
        row_sep = r" \\ "
        blocks.append(Block("eq", rf"\begin{{bmatrix}} {row_sep.join(rows)} \end{{bmatrix}} = "
                                  rf"\begin{{bmatrix}} {matrix} \end{{bmatrix}} "
                                  rf"\begin{{bmatrix}} {operands} \end{{bmatrix}}, \quad "
                                  rf"W \in {shape}"))
    return blocks


def _collapse(sum_text: str) -> str:
    """"D + D + D + D" -> "4D"."""
    parts = sum_text.split(" + ")
    counts = {p: parts.count(p) for p in dict.fromkeys(parts)}
    return " + ".join(p if n == 1 else f"{n}{p}" for p, n in counts.items())


def _function_source(module_source: str, name: str) -> str:
    start = module_source.index(f"\ndef {name}(") + 1
    end = module_source.find("\n\n\n", start)
    return module_source[start:end if end >= 0 else None].rstrip() + "\n"


def _verification_blocks(cell: str, report: dict | None, lang: str,
                         module_sha256: str) -> list[Block]:
    """The report's figures for this cell, only those measured on exactly this module (the
    report records each module file's SHA-256): figures of older code are not shown as its."""
    t = PROSE[lang]
    measured = [r for r in (report or {}).get("results", []) if r["cell"] == cell]
    results = [r for r in measured if r.get("module_sha256") == module_sha256]
    if not measured:
        return [Block("p", t["no_report"])]
    if not results:
        return [Block("p", t["stale_report"])]
    rows = [(t["method"], "dtype", "T,B,M,D", t["worst"], t["threshold"], t["status"])]
    for r in results:
        errors = [c["normwise_rel_err"] for c in r["checks"]
                  if isinstance(c["normwise_rel_err"], (int, float))]
        sizes = ",".join(str(r["sizes"][k]) for k in ("T", "B", "M", "D"))
        worst = f"{max(errors):.1e}" if errors else "-"
        threshold = f"{r['checks'][0]['threshold']:g}" if r["checks"] else "-"
        rows.append((r["method"], r["dtype"], sizes, worst, threshold,
                     t["pass"] if r["passed"] else t["fail"]))
    blocks = [Block("p", t["report_intro"]), Block("table", rows=tuple(rows))]
    if len(results) < len(measured):
        blocks.append(Block("p", t["stale_results"].format(n=len(measured) - len(results))))
    return blocks


def comparison_page(derivations: list[Derivation], lang: str, base: str = "lstm") -> Page:
    """What each variant adds, removes or changes relative to ``base``, equation by equation."""
    t = PROSE[lang]
    by_name = {d.cell.name: d for d in derivations}
    reference = by_name[base].cell
    ref_eqs = {eq.target: eq for eq in reference.equations}
    blocks = [Block("h1", t["compare_title"].format(base=base)), Block("p", t["compare_intro"])]
    for d in derivations:
        cell = d.cell
        if cell.name == base:
            continue
        printer = CellLatexPrinter(cell, known_names(d))
        ref_printer = CellLatexPrinter(reference, known_names(by_name[base]))
        blocks.append(Block("h2", f"{cell.name}: {cell.title}"))
        eqs = {eq.target: eq for eq in cell.equations}
        rows = []
        for target in list(dict.fromkeys([*ref_eqs, *eqs])):
            if target not in eqs:
                blocks.append(Block("p", t["removed"].format(name=target)))
                blocks.append(Block("eq", rf"{latex_name(target, reference)} = "
                                          rf"{ref_printer.doprint(ref_eqs[target].display)}"))
            elif target not in ref_eqs:
                blocks.append(Block("p", t["added"].format(name=target)))
                blocks.append(Block("eq", rf"{latex_name(target, cell)} = "
                                          rf"{printer.doprint(eqs[target].display)}"))
            elif sympy.simplify(eqs[target].expr - ref_eqs[target].expr) != 0:
                blocks.append(Block("p", t["changed"].format(name=target)))
                blocks.append(Block("eq", rf"\text{{{base}:}} \quad {latex_name(target, reference)} = "
                                          rf"{ref_printer.doprint(ref_eqs[target].display)}"))
                blocks.append(Block("eq", rf"\text{{{cell.name}:}} \quad {latex_name(target, cell)} = "
                                          rf"{printer.doprint(eqs[target].display)}"))
            else:
                rows.append(target)
        if rows:
            blocks.append(Block("p", t["same"].format(names=", ".join(rows))))
        ref_params = {p.name for p in reference.params}
        params = {p.name for p in cell.params}
        added = [p.name for p in cell.params if p.name not in ref_params]
        removed = [p.name for p in reference.params if p.name not in params]
        blocks.append(Block("p", t["param_diff"].format(
            added=", ".join(added) or "-", removed=", ".join(removed) or "-")))
    return Page("variants", t["compare_title"].format(base=base), lang,
                ("gatecalc", "LSTM", t["tag"]), tuple(blocks))


# -- rendering ------------------------------------------------------------------------------------


def render(page: Page, fmt: str) -> str:
    return {"md": render_md, "html": render_html, "tex": render_tex}[fmt](page)


def _anchor(text: str, index: int) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return slug or f"section-{index}"


def render_md(page: Page) -> str:
    tags = "\n".join(f"  - {tag}" for tag in page.tags)
    # a JSON string is a YAML double-quoted scalar: a title holding '"' or ':' stays one value
    out = [f"---\ntitle: {json.dumps(page.title, ensure_ascii=False)}\nlang: {page.lang}\n"
           f"tags:\n{tags}\n---\n",
           f"<!-- generated by gatecalc — do not edit; {PLACEHOLDER} -->\n"]
    for block in page.blocks:
        if block.kind == "h1":
            out.append(f"# {block.text}\n")
        elif block.kind == "h2":
            out.append(f"## {block.text}\n")
        elif block.kind == "p":
            out.append(f"{block.text}\n")
        elif block.kind == "eq":
            out.append(f"$$\n{block.text}\n$$\n")
        elif block.kind == "code":
            out.append(f"```python\n{block.text}```\n")
        elif block.kind == "table":
            header, *rows = block.rows
            lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
            lines += ["| " + " | ".join(row) + " |" for row in rows]
            out.append("\n".join(lines) + "\n")
    return "\n".join(out)


INLINE = re.compile(r"(`[^`]*`|\$[^$]+\$)")


def _spans(text: str):
    """Prose split into ("code", ...), ("math", ...) and ("text", ...) spans."""
    for part in INLINE.split(text):
        if len(part) > 1 and part[0] == part[-1] == "`":
            yield "code", part[1:-1]
        elif len(part) > 1 and part[0] == part[-1] == "$":
            yield "math", part[1:-1]
        elif part:
            yield "text", part


def _inline_html(text: str) -> str:
    """Prose with `code` spans and $math$ (as inline MathML); everything else escaped."""
    show = {"code": lambda s: f"<code>{escape(s)}</code>",
            "math": lambda s: to_mathml(s, display=False), "text": escape}
    return "".join(show[kind](span) for kind, span in _spans(text))


def render_html(page: Page) -> str:
    toc, body = [], []
    for index, block in enumerate(page.blocks):
        if block.kind == "h1":
            body.append(f"<h1>{escape(block.text)}</h1>")
        elif block.kind == "h2":
            anchor = _anchor(block.text, index)
            toc.append(f'<li><a href="#{anchor}">{escape(block.text)}</a></li>')
            body.append(f'<h2 id="{anchor}">{escape(block.text)}</h2>')
        elif block.kind == "p":
            body.append(f"<p>{_inline_html(block.text)}</p>")
        elif block.kind == "eq":
            body.append(f'<div class="eq">{to_mathml(block.text)}</div>')
        elif block.kind == "code":
            body.append(f"<pre><code>{escape(block.text)}</code></pre>")
        elif block.kind == "table":
            header, *rows = block.rows
            head = "".join(f"<th>{escape(h)}</th>" for h in header)
            cells = "".join("<tr>" + "".join(f"<td>{escape(c)}</td>" for c in row) + "</tr>"
                            for row in rows)
            body.append(f"<table><thead><tr>{head}</tr></thead><tbody>{cells}</tbody></table>")
    t = PROSE[page.lang]
    return (
        f'<!DOCTYPE html>\n<html lang="{page.lang}">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{escape(page.title)}</title>\n"
        f"<!-- generated by gatecalc — do not edit; {PLACEHOLDER} -->\n"
        "<style>\nbody{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;"
        "padding:0 1rem;line-height:1.5}\n.eq{overflow-x:auto;overflow-y:hidden;margin:0.6rem 0;padding:0.2rem 0}\n"
        "pre{background:#f5f5f5;padding:0.8rem;overflow-x:auto;font-size:0.85rem}\n"
        "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:0.2rem 0.6rem}\n"
        "nav{border:1px solid #ddd;padding:0.5rem 1rem;margin-bottom:1rem}\n</style>\n"
        "</head>\n<body>\n"
        f"<nav><strong>{escape(t['contents'])}</strong><ul>\n" + "\n".join(toc) + "\n</ul></nav>\n"
        "<main>\n" + "\n".join(body) + "\n</main>\n</body>\n</html>\n"
    )


def _tex_text(text: str) -> str:
    """Prose for LaTeX: `code` as \\texttt, $math$ kept, other special characters escaped."""
    def plain(s: str) -> str:
        s = s.replace("\\", r"\textbackslash{}")
        for ch in "&%$#_{}":
            s = s.replace(ch, "\\" + ch)
        return s.replace("~", r"\textasciitilde{}").replace("^", r"\textasciicircum{}")
    show = {"code": lambda s: rf"\texttt{{{plain(s)}}}", "math": lambda s: f"${s}$",
            "text": plain}
    return "".join(show[kind](span) for kind, span in _spans(text))


def render_tex(page: Page) -> str:
    head = (r"\documentclass[UTF8]{ctexart}" if page.lang == "zh" else r"\documentclass{article}")
    out = [
        f"% generated by gatecalc — do not edit; {PLACEHOLDER}",
        head,
        r"\usepackage{amsmath,amssymb,graphicx}",
        r"\usepackage[margin=2cm]{geometry}",
        r"\newcommand{\fiteq}[1]{\[\resizebox{\ifdim\width>\linewidth\linewidth\else\width\fi}{!}{$\displaystyle #1$}\]}",
        r"\setlength{\parindent}{0pt}\setlength{\parskip}{0.5em}",
        r"\begin{document}",
    ]
    for block in page.blocks:
        if block.kind == "h1":
            out.append(rf"\section*{{{_tex_text(block.text)}}}")
        elif block.kind == "h2":
            out.append(rf"\subsection*{{{_tex_text(block.text)}}}")
        elif block.kind == "p":
            out.append(_tex_text(block.text) + "\n")
        elif block.kind == "eq":
            out.append(rf"\fiteq{{{block.text}}}")
        elif block.kind == "code":
            out.append("{\\footnotesize\n\\begin{verbatim}\n" + block.text + "\\end{verbatim}\n}")
        elif block.kind == "table":
            header, *rows = block.rows
            spec = "l" * len(header)
            lines = [" & ".join(_tex_text(c) for c in header) + r" \\ \hline"]
            lines += [" & ".join(_tex_text(c) for c in row) + r" \\" for row in rows]
            out.append(rf"\begin{{tabular}}{{{spec}}}" + "\n" + "\n".join(lines) + "\n" +
                       r"\end{tabular}")
    out.append(r"\end{document}")
    return "\n".join(out) + "\n"
