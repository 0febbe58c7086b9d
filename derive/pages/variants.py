"""The variants page: each variant against its base cell (the spec's ``base`` field), computed
from the specs: the forward equations it adds, removes or changes, the same for the error terms of
one step and for backpropagation through time, the parameters, and the measured gradient flow of
every cell on the page."""

from __future__ import annotations

import sympy

from derive.ad.adjoint import Adjoint, Derivation, ElementwiseTerm
from derive.ad.maps import known_names
from derive.ad.recurrence import shifted_names
from derive.naming import latex_name
from derive.pages import content, figures, flow
from derive.pages.latex import CellLatexPrinter
from derive.pages.model import Equation, Heading, Page, Paragraph
from derive.pages import words
from derive.pages.prose import PROSE


def variants_of(derivations: list[Derivation]) -> list[tuple[Derivation, Derivation]]:
    """(variant, base) for every cell whose base is among ``derivations``, grouped by base."""
    by_name = {d.cell.name: d for d in derivations}
    pairs = [(d, by_name[d.cell.base]) for d in derivations if d.cell.base in by_name]
    order = {d.cell.name: k for k, d in enumerate(derivations)}
    return sorted(pairs, key=lambda p: (order[p[1].cell.name], order[p[0].cell.name]))


def comparison_page(derivations: list[Derivation], lang: str,
                    modules: dict[str, str] | None = None) -> Page:
    t = PROSE[lang]
    pairs = variants_of(derivations)
    parts = [Paragraph(t["compare_intro"])]
    for variant, base in pairs:
        parts.append(Heading(t["variant_heading"].format(
            name=variant.cell.name, title=words.title(variant.cell.title, lang))))
        parts.append(Paragraph(t["compare_base"].format(base=f"`{base.cell.name}`")))
        parts += _forward_diff(variant, base, lang)
        parts += _backward_diff(variant, base, lang)
        parts.append(_param_diff(variant, base, lang))
    if modules:
        parts += _flow(pairs, modules, lang)
    return Page("variants", t["compare_title"], lang, ("LSTM", t["tag"]), tuple(parts))


def _printers(d: Derivation):
    return CellLatexPrinter(d.cell, known_names(d) | shifted_names(d)).doprint


def _side_by_side(base: Derivation, variant: Derivation, lhs_base: str, rhs_base: str,
                  lhs: str, rhs: str) -> Equation:
    return Equation((rf"\text{{{base.cell.name}:}} \quad & {lhs_base} = {rhs_base}",
                     rf"\text{{{variant.cell.name}:}} \quad & {lhs} = {rhs}"))


def _forward_diff(variant: Derivation, base: Derivation, lang: str) -> list:
    t = PROSE[lang]
    tex, tex_base = _printers(variant), _printers(base)
    mine = {eq.target: eq for eq in variant.cell.equations}
    theirs = {eq.target: eq for eq in base.cell.equations}
    parts, same = [], []
    for target in dict.fromkeys([*theirs, *mine]):
        name = f"${latex_name(target, variant.cell if target in mine else base.cell)}$"
        if target not in mine:
            parts += [Paragraph(t["removed"].format(name=name)), Equation((
                f"{latex_name(target, base.cell)} = {tex_base(theirs[target].display)}",))]
        elif target not in theirs:
            parts += [Paragraph(t["added"].format(name=name)), Equation((
                f"{latex_name(target, variant.cell)} = {tex(mine[target].display)}",))]
        elif sympy.expand(mine[target].expr - theirs[target].expr) != 0:
            parts += [Paragraph(t["changed"].format(name=name)), _side_by_side(
                base, variant, latex_name(target, base.cell), tex_base(theirs[target].display),
                latex_name(target, variant.cell), tex(mine[target].display))]
        else:
            same.append(name)
    if same:
        parts.append(Paragraph(t["same"].format(names=t["list_sep"].join(same))))
    return parts


def _adjoint_key(adjoint: Adjoint):
    """What an error term's equation says, comparable across cells (same names, same maths)."""
    elementwise = sympy.expand(sympy.Add(*[x.adjoint * x.partial for x in adjoint.terms
                                           if isinstance(x, ElementwiseTerm)]))
    maps = frozenset((x.matrix, str(x.adjoint)) for x in adjoint.terms if not isinstance(x, ElementwiseTerm))
    return elementwise, maps


def _backward_diff(variant: Derivation, base: Derivation, lang: str) -> list:
    """The error terms of one step that change, and the recurrences over time that change."""
    t = PROSE[lang]
    mine = {a.target: a for a in variant.backward if a.role not in ("param_vector",
                                                                     "param_matrix")}
    theirs = {a.target: a for a in base.backward if a.role not in ("param_vector",
                                                                   "param_matrix")}
    changed = [a for a in dict.fromkeys([*theirs, *mine])
               if a not in mine or a not in theirs
               or _adjoint_key(mine[a]) != _adjoint_key(theirs[a])]
    parts = []
    if changed:
        names = t["list_sep"].join(
            f"$\\delta {latex_name(a, variant.cell if a in mine else base.cell)}$"
            for a in changed)
        parts.append(Paragraph(t["backward_changed"].format(names=names)))
    tex, tex_base = _printers(variant), _printers(base)
    ours = content.recurrence_terms(variant, tex)
    old = content.recurrence_terms(base, tex_base)
    for state in dict.fromkeys([*old, *ours]):
        if ours.get(state) == old.get(state):
            continue
        lhs = rf"\delta {latex_name(state, variant.cell if state in ours else base.cell)}"
        if state in ours and state in old:
            parts.append(Paragraph(t["recurrence_changed"].format(name=f"${lhs}$")))
            parts.append(_side_by_side(base, variant, lhs, " + ".join(old[state]),
                                       lhs, " + ".join(ours[state])))
        else:  # a state of one cell only
            key, terms = ("recurrence_added", ours) if state in ours else ("recurrence_removed",
                                                                            old)
            parts.append(Paragraph(t[key].format(name=f"${lhs}$")))
            parts.append(Equation((f"{lhs} = {' + '.join(terms[state])}",)))
    return parts


def _param_diff(variant: Derivation, base: Derivation, lang: str) -> Paragraph:
    t = PROSE[lang]
    theirs = {p.name for p in base.cell.params}
    mine = {p.name for p in variant.cell.params}
    added = [f"${latex_name(p, variant.cell)}$" for p in mine - theirs]
    removed = [f"${latex_name(p, base.cell)}$" for p in theirs - mine]
    none = t["none"]
    return Paragraph(t["param_diff"].format(added=t["list_sep"].join(sorted(added)) or none,
                                            removed=t["list_sep"].join(sorted(removed)) or none))


def _flow(pairs, modules: dict[str, str], lang: str) -> list:
    """Every cell of the page, measured at its spec's initial values."""
    t = PROSE[lang]
    cells = list(dict.fromkeys([d for pair in pairs for d in reversed(pair)]))
    curves = tuple((f"{d.cell.name}: ${latex_name(flow.carrier_state(d), d.cell, 'T-k')}$",
                    content.measured_at_init(d, modules[d.cell.name])) for d in cells)
    try:
        svg, pdf = flow.plot(curves, r"$\|\partial L/\partial s_{T-k}\|$")
        drawn = figures.Drawn(svg, pdf, "")
    except ImportError:
        drawn = figures.Drawn(None, None, "no_matplotlib")
    caption = t["variants_flow_caption"].format(T=flow.STEPS, D=flow.SIZE, B=flow.BATCH)
    return [Heading(t["variants_flow_title"]), figures.figure(
        "variants-flow", caption, drawn, {"no_matplotlib": t["no_matplotlib"]})]
