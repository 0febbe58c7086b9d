"""The variants page: each variant's equations against its base cell's, computed from the specs."""

from __future__ import annotations

import sympy

from derive.ad.adjoint import Derivation
from derive.ad.maps import known_names
from derive.naming import latex_name
from derive.pages.latex import CellLatexPrinter
from derive.pages.model import Equation, Heading, Page, Paragraph
from derive.pages import words
from derive.pages.prose import PROSE


def comparison_page(derivations: list[Derivation], lang: str, base: str = "lstm") -> Page:
    """What each variant adds, removes or changes relative to ``base``, equation by equation."""
    t = PROSE[lang]
    by_name = {d.cell.name: d for d in derivations}
    reference = by_name[base].cell
    ref_printer = CellLatexPrinter(reference, known_names(by_name[base]))
    ref_eqs = {eq.target: eq for eq in reference.equations}
    parts = [Paragraph(t["compare_intro"])]
    for d in derivations:
        cell = d.cell
        if cell.name == base:
            continue
        printer = CellLatexPrinter(cell, known_names(d))
        parts.append(Heading(t["variant_heading"].format(
            name=cell.name, title=words.title(cell.title, lang))))
        eqs = {eq.target: eq for eq in cell.equations}
        same = []
        for target in dict.fromkeys([*ref_eqs, *eqs]):
            if target not in eqs:
                parts.append(Paragraph(t["removed"].format(name=target)))
                parts.append(Equation((rf"{latex_name(target, reference)} = "
                                       rf"{ref_printer.doprint(ref_eqs[target].display)}",)))
            elif target not in ref_eqs:
                parts.append(Paragraph(t["added"].format(name=target)))
                parts.append(Equation((rf"{latex_name(target, cell)} = "
                                       rf"{printer.doprint(eqs[target].display)}",)))
            elif sympy.simplify(eqs[target].expr - ref_eqs[target].expr) != 0:
                parts.append(Paragraph(t["changed"].format(name=target)))
                parts.append(Equation((
                    rf"\text{{{base}:}} \quad & {latex_name(target, reference)} = "
                    rf"{ref_printer.doprint(ref_eqs[target].display)}",
                    rf"\text{{{cell.name}:}} \quad & {latex_name(target, cell)} = "
                    rf"{printer.doprint(eqs[target].display)}")))
            else:
                same.append(target)
        if same:
            parts.append(Paragraph(t["same"].format(names=", ".join(same))))
        ref_params = {p.name for p in reference.params}
        params = {p.name for p in cell.params}
        added = [p.name for p in cell.params if p.name not in ref_params]
        removed = [p.name for p in reference.params if p.name not in params]
        parts.append(Paragraph(t["param_diff"].format(
            added=", ".join(added) or "-", removed=", ".join(removed) or "-")))
    return Page("variants", t["compare_title"].format(base=base), lang, ("LSTM", t["tag"]),
                tuple(parts))
