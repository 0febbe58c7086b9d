"""The derivation page of one cell: a Derivation (+ its generated module and the verification
report) -> a ``Page``. Each section is one function returning its parts; every equation shown is
printed from the SymPy objects that generate the code, every rewrite confirmed by ``checks``."""

from __future__ import annotations

import sympy

from derive.ad.adjoint import Adjoint, BackMatmulTerm, Derivation, ElementwiseTerm, OuterTerm
from derive.ad.blocks import to_builtin
from derive.ad.cell import Cell, prev_name
from derive.ad.checks import checked_steps
from derive.ad.maps import known_names
from derive.io.writer import sha256
from derive.naming import adjoint_name, latex_name
from derive.pages.latex import CellLatexPrinter
from derive.pages.layout import broken
from derive.pages.model import Code, Equation, Heading, Page, Paragraph, Table
from derive.pages import content, words
from derive.ad.recurrence import shifted_names
from derive.pages.notation import notation, stacked
from derive.pages.prose import PROSE


def cell_page(derivation: Derivation, lang: str, report: dict | None, module: str) -> Page:
    """``module``: the generated module's file content, shown in part and matched against the
    report's module hashes."""
    cell = derivation.cell
    t = PROSE[lang]
    tex = CellLatexPrinter(cell, known_names(derivation)).doprint
    parts = [Paragraph(t["source"].format(words.source(cell.source, lang))),
             notation(cell, lang)]
    parts += [Heading(t["forward"]), Paragraph(t["forward_intro"])]
    parts += [Equation((f"{latex_name(eq.target, cell)} = {tex(eq.display)}",))
              for eq in cell.equations]
    parts += [Heading(t["diagram_title"]), content.diagram_figure(derivation, lang)]
    parts += [Heading(t["pre_title"]), Paragraph(t["pre_intro"]),
              *content.pre_activations(derivation, tex)]
    parts += [Heading(t["param_title"]), content.parameter_table(derivation, lang),
              *content.forget_bias_paragraph(derivation, lang)]
    stack = stacked(derivation, lang)
    if stack:
        parts += [Heading(t["stacked"]), Paragraph(t["stacked_intro"]), *stack]
    parts += [Heading(t["local"]), Paragraph(t["local_intro"]),
              *content.local_derivatives(derivation, tex, lang)]
    parts += [Heading(t["adjoint"]), Paragraph(t["adjoint_intro"]),
              *_adjoints(derivation, tex, lang)]
    parts += [Heading(t["params"]), Paragraph(t["params_intro"])]
    parts += [Equation((_param_latex(a, cell, tex),)) for a in derivation.backward
              if a.role in ("param_vector", "param_matrix")]
    tex_next = CellLatexPrinter(cell, known_names(derivation) | shifted_names(derivation)).doprint
    parts += [Heading(t["bptt"]), *content.recurrence_parts(derivation, tex_next, lang)]
    parts += [Heading(t["why_title"]),
              *content.why_it_works(derivation, lang, content.measured_at_init(derivation, module)),
              *content.flow_figure(derivation, module, lang)]
    parts += [Heading(t["example_title"]), *content.worked_example_parts(derivation, module, lang)]
    parts += [Heading(t["code"]), Paragraph(t["code_intro"]),
              Code(_function_source(module, "step_backward"))]
    parts += [Heading(t["verification"]),
              *_verification(cell.name, report, lang, sha256(module))]
    title = words.title(cell.title, lang)
    return Page(cell.name, t["cell_title"].format(name=cell.name, title=title), lang,
                ("LSTM", cell.name, t["tag"]), tuple(parts))


def _adjoints(derivation: Derivation, tex, lang: str) -> list:
    cell = derivation.cell
    parts = [_adjoint_equation(a, cell, tex) for a in derivation.backward
             if a.role not in ("param_vector", "param_matrix")]
    if derivation.aliases:
        parts.append(Paragraph(PROSE[lang]["aliases"]))
        parts.append(Equation(tuple(f"{latex_name(a, cell)} &= {latex_name(b, cell)}"
                                    for a, b in derivation.aliases)))
    return parts


def _adjoint_equation(adjoint: Adjoint, cell: Cell, tex) -> Equation:
    target = adjoint.target
    lhs = latex_name(adjoint_name(target), cell)
    pieces = [rf"{lhs}^{{(t+1)}}"] if adjoint.seeded else []
    elementwise = [t.adjoint * t.partial for t in adjoint.terms if isinstance(t, ElementwiseTerm)]
    if elementwise:
        pieces.append(tex(sympy.Add(*elementwise, evaluate=False)))
    for term in adjoint.terms:
        if isinstance(term, BackMatmulTerm):
            pieces.append(rf"{latex_name(term.matrix, cell)}^{{\top}} "
                          rf"{latex_name(str(term.adjoint), cell)}")
    return broken(lhs, pieces)


def _param_latex(adjoint: Adjoint, cell: Cell, tex) -> str:
    lhs = rf"\frac{{\partial L}}{{\partial {latex_name(adjoint.target, cell)}}}"
    pieces = []
    elementwise = [t.adjoint * t.partial for t in adjoint.terms if isinstance(t, ElementwiseTerm)]
    if elementwise:
        pieces.append(tex(sympy.Add(*elementwise, evaluate=False)))
    for term in adjoint.terms:
        if isinstance(term, OuterTerm):
            pieces.append(rf"{latex_name(str(term.adjoint), cell)} \, "
                          rf"{latex_name(term.operand, cell)}^{{\top}}")
    if not pieces:
        return f"{lhs} = 0"
    return rf"{lhs} = \sum_{{t=1}}^{{T}} \left({' + '.join(pieces)}\right)"


def _function_source(module_source: str, name: str) -> str:
    start = module_source.index(f"\ndef {name}(") + 1
    end = module_source.find("\n\n\n", start)
    return module_source[start:end if end >= 0 else None].rstrip() + "\n"


def _verification(cell: str, report: dict | None, lang: str, module_sha256: str) -> list:
    """The report's figures for this cell, only those measured on exactly this module (the
    report records each module file's SHA-256): figures of older code are not shown as its."""
    t = PROSE[lang]
    measured = [r for r in (report or {}).get("results", []) if r["cell"] == cell]
    results = [r for r in measured if r.get("module_sha256") == module_sha256]
    if not measured:
        return [Paragraph(t["no_report"])]
    if not results:
        return [Paragraph(t["stale_report"])]
    rows = []
    for r in results:
        errors = [c["normwise_rel_err"] for c in r["checks"]
                  if isinstance(c["normwise_rel_err"], (int, float))]
        sizes = ",".join(str(r["sizes"][k]) for k in ("T", "B", "M", "D"))
        worst = f"{max(errors):.1e}" if errors else "-"
        threshold = f"{r['checks'][0]['threshold']:g}" if r["checks"] else "-"
        rows.append((r["method"], r["dtype"], sizes, worst, threshold,
                     t["pass"] if r["passed"] else t["fail"]))
    parts = [Table((t["method"], t["dtype"], "T,B,M,D", t["worst"], t["threshold"],
                    t["status"]), tuple(rows), caption=t["report_intro"])]
    if len(results) < len(measured):
        parts.append(Paragraph(t["stale_results"].format(n=len(measured) - len(results))))
    return parts
