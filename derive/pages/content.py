"""What a cell page says beyond the step's equations, each part read off the derivation: the
pre-activations, the parameter table, the local derivatives with the trivial ones collapsed,
backpropagation through time in t+1 form, why the error survives many steps, and the figures
and worked example. Nothing here names a particular cell."""

from __future__ import annotations

import functools

import sympy

from derive.ad.adjoint import Derivation, ElementwiseTerm, Term
from derive.ad.blocks import block_of, to_builtin
from derive.ad.checks import checked_steps
from derive.ad.recurrence import Recurrence, carriers, check_recurrences
from derive.naming import latex_name
from derive.pages import example, figures, flow
from derive.pages.layout import broken
from derive.pages.model import Equation, Figure, Paragraph, Table
from derive.pages.prose import PROSE

ONES_PER_LINE = 3  # fractions per line of the derivatives equal to 1 (a line never shrinks)
BIAS_VALUES = (0.0, 1.0, 2.0)  # the initial values the gradient-flow figure compares


def _math(text: str) -> str:
    return f"${text}$"


def pre_activations(derivation: Derivation, tex) -> list[Equation]:
    """``a_{g,t} = W_g x_t + U_g h_{t-1} + b_g`` for each named pre-activation, terms as written."""
    cell = derivation.cell
    written = {eq.text: eq for eq in cell.equations}
    out = []
    for statement, after in zip(derivation.forward, derivation.forward[1:]):
        if after.expr is None or block_of(after.expr) is None or \
                str(after.expr.args[0]) != statement.target:
            continue
        display = written[after.equation].display
        inner = display.args[0] if block_of(display) is not None else statement.expr
        lhs = latex_name(statement.target, cell)
        out.append(Equation((f"{lhs} = {tex(inner)}",)))
    return out


def _uses(derivation: Derivation, name: str) -> tuple[str, str, str]:
    """A parameter's first use: (how, operand, the statement it feeds), how being "matrix",
    "diagonal" (a vector times a vector) or "bias"."""
    symbol = sympy.Symbol(name)
    for s in derivation.forward:
        if s.is_linear_map and s.matrix == name:
            target = next(u.target for u in derivation.forward
                          if u.expr is not None and sympy.Symbol(s.target) in u.expr.free_symbols)
            return "matrix", s.operand, target
        if s.expr is not None and symbol in s.expr.free_symbols:
            for term in sympy.Add.make_args(s.expr):
                if symbol in term.free_symbols and term != symbol:
                    other = [a for a in term.free_symbols if a != symbol]
                    return "diagonal", str(other[0]) if len(other) == 1 else "", s.target
            return "bias", "", s.target
    return "unused", "", ""


def parameter_table(derivation: Derivation, lang: str) -> Table:
    cell = derivation.cell
    t = PROSE[lang]
    hidden = next(dim for dim, keyword in cell.sizes if keyword == "hidden_size")
    rows = []
    for p in cell.params:
        how, operand, target = _uses(derivation, p.name)
        where = _math(latex_name(target, cell)) if target else ""
        role = t[f"role_{how}"].format(v=_math(latex_name(operand, cell)) if operand else "",
                                        target=where)
        shape = _math(r" \times ".join(p.shape))
        init = _math(f"{p.init:g}") if p.init is not None else \
            _math(rf"\mathrm{{U}}\left(-{hidden}^{{-1/2}}, {hidden}^{{-1/2}}\right)")
        rows.append((_math(latex_name(p.name, cell)), shape, role, init))
    return Table((t["param_name"], t["param_shape"], t["param_role"], t["param_init"]),
                 tuple(rows), caption=t["param_caption"])


def gain_bias(derivation: Derivation) -> tuple[str, str, float] | None:
    """(parameter, gate, initial value) when a constant initial value is a bias of the gate that
    is the gain of the carrier path (the article's forget-gate bias), else None."""
    constant = {p.name: p.init for p in derivation.cell.params if p.init is not None}
    for carrier in carriers(derivation):
        if not carrier.defined_by:
            continue
        for name, value in constant.items():
            how, _, target = _uses(derivation, name)
            gate = next((s for s in derivation.forward if s.target == carrier.defined_by), None)
            if how == "bias" and gate is not None and str(gate.expr.args[0]) == target:
                return name, carrier.defined_by, value
    return None


def forget_bias_paragraph(derivation: Derivation, lang: str) -> list[Paragraph]:
    found = gain_bias(derivation)
    if found is None:
        return []
    cell = derivation.cell
    name, gate, value = found
    sigma = 1.0 / (1.0 + 2.718281828459045 ** -value)
    t = PROSE[lang]
    where = t["bias_figure_variants" if cell.base else "bias_figure_here"]
    return [Paragraph(t["bias_reason"].format(
        b=_math(latex_name(name, cell)), value=f"{value:g}", gate=_math(latex_name(gate, cell)),
        sigma=f"{sigma:.2f}") + t["sentence_sep"] + where)]


def local_derivatives(derivation: Derivation, tex, lang: str) -> list:
    """Each informative local derivative, its SymPy form first; those equal to 1 after them,
    one line per value they belong to."""
    cell = derivation.cell
    products = {str(m.symbol) for m in cell.linear_maps}
    out, ones = [], {}
    for step in checked_steps(derivation):
        wrt = latex_name(step.wrt, cell)
        wrt = rf"\left({wrt}\right)" if step.wrt in products else wrt
        lhs = rf"\frac{{\partial {latex_name(step.target, cell)}}}{{\partial {wrt}}}"
        if step.derived == 1:
            ones.setdefault(step.target, []).append(lhs)
            continue
        derived = tex(step.derived)
        same = step.builtin == to_builtin(step.derived)
        out.append(Equation((f"{lhs} = {derived if same else f'{tex(step.builtin)} = {derived}'}",)))
    if ones:
        out.append(Paragraph(PROSE[lang]["local_ones"].format(
            n=sum(len(v) for v in ones.values()))))
        lines = tuple(" = ".join(group[k:k + ONES_PER_LINE]) + " &= 1"
                      for group in ones.values() for k in range(0, len(group), ONES_PER_LINE))
        out.append(Equation(lines if len(lines) > 1 else (lines[0].replace("&", ""),)))
    return out


def _term(term: Term, cell, tex) -> str:
    if isinstance(term, ElementwiseTerm):
        return tex(term.adjoint * term.partial)
    return rf"{latex_name(term.matrix, cell)}^{{\top}} {latex_name(str(term.adjoint), cell)}"


@functools.lru_cache(maxsize=None)
def _checked_recurrences(derivation: Derivation) -> tuple[Recurrence, ...]:
    return check_recurrences(derivation)


def recurrence_terms(derivation: Derivation, tex) -> dict[str, list[str]]:
    """Each state's δs_t as printed terms (∂L/∂y_t first for the output), the output's first;
    every recurrence confirmed by SymPy."""
    cell = derivation.cell
    out = {}
    for r in sorted(_checked_recurrences(derivation), key=lambda r: not r.output):
        pieces = [r"\frac{\partial L}{\partial y_{t}}"] if r.output else []
        out[r.state] = pieces + [_term(term, cell, tex) for term in (*r.local, *r.arriving)]
    return out


def recurrence_parts(derivation: Derivation, tex, lang: str) -> list:
    """δs_t for each state, with ∂L/∂y_t where the output's is shown, each confirmed by SymPy."""
    cell = derivation.cell
    t = PROSE[lang]
    parts = [Paragraph(t["recurrence_intro"])]
    for state, pieces in recurrence_terms(derivation, tex).items():
        parts.append(broken(rf"\delta {latex_name(state, cell)}", pieces))
    parts.append(Paragraph(t["recurrence_checked"]))
    parts.append(Paragraph(t["bptt_end"]))
    return parts


def why_it_works(derivation: Derivation, lang: str, measured: tuple[float, ...] | None) -> list:
    """Which state carries the error across steps, with what gain, read off ∂s_t/∂s_{t-1}."""
    cell = derivation.cell
    t = PROSE[lang]
    parts = []
    for carrier in carriers(derivation):
        s, prev = latex_name(carrier.state, cell), latex_name(f"{carrier.state}_prev", cell)
        path = t["why_path"].format(s=_math(s), prev=_math(prev), gain=_math(
            _gain_latex(carrier, cell)))
        if carrier.gain == 1:
            more = t["why_unit"].format(s=_math(s))
        elif carrier.defined_by:
            more = t["why_gate"].format(g=_math(latex_name(carrier.defined_by, cell)),
                                        s=_math(s))
        else:
            more = t["why_other"]
        parts.append(Paragraph(path + t["sentence_sep"] + more))
    if measured and carriers(derivation):
        k = len(measured)
        parts.append(Paragraph(t["why_measured"].format(k=k, first=f"{measured[0]:.3g}",
                                                        last=f"{measured[-1]:.3g}")))
    return parts


def _gain_latex(carrier, cell) -> str:
    from derive.pages.latex import CellLatexPrinter
    printer = CellLatexPrinter(cell, frozenset(str(s) for s in carrier.gain.free_symbols))
    return rf"\partial {latex_name(carrier.state, cell)} / \partial " \
           rf"{latex_name(carrier.state + '_prev', cell)} = {printer.doprint(carrier.gain)}"


# -- figures and the worked example ---------------------------------------------------------------


def diagram_figure(derivation: Derivation, lang: str) -> Figure:
    t = PROSE[lang]
    drawn = figures.cell_diagram(derivation.cell)
    return figures.figure(f"{derivation.cell.name}-cell", t["diagram_caption"], drawn,
                          {"no_dot": t["no_dot"]})


@functools.lru_cache(maxsize=None)
def _flow_curves(derivation: Derivation, module_text: str):
    module = flow.load(module_text)
    carrier = flow.carrier_state(derivation)
    found = gain_bias(derivation)
    if found is None:
        return carrier, None, ((None, flow.measure(module, carrier)),)
    name = found[0]
    return carrier, name, tuple((v, flow.measure(module, carrier, ((name, v),)))
                                for v in BIAS_VALUES)


@functools.lru_cache(maxsize=None)
def _flow_drawing(derivation: Derivation, module_text: str) -> figures.Drawn:
    cell = derivation.cell
    carrier, name, curves = _flow_curves(derivation, module_text)
    ylabel = rf"$\|\partial L/\partial {latex_name(carrier, cell, 'T-k')}\|$"
    labelled = tuple((rf"${latex_name(name, cell)} = {v:g}$" if name else cell.name, norms)
                     for v, norms in curves)
    try:
        svg, pdf = flow.plot(labelled, ylabel)
    except ImportError:
        return figures.Drawn(None, None, "no_matplotlib")
    return figures.Drawn(svg, pdf, "")


def flow_figure(derivation: Derivation, module_text: str, lang: str) -> list:
    """The measured gradient flow for each initial value of the article's gain bias, on the page
    of a cell that is no variant (a variant's curve is on the variants page)."""
    if gain_bias(derivation) is None or derivation.cell.base:
        return []
    t = PROSE[lang]
    carrier, name, curves = _flow_curves(derivation, module_text)
    cell = derivation.cell
    caption = t["flow_caption"].format(
        s=_math(rf"\delta {latex_name(carrier, cell, 'T-k')}"), b=_math(latex_name(name, cell)),
        values="{" + ", ".join(f"{v:g}" for v in BIAS_VALUES) + "}", T=flow.STEPS,
        D=flow.SIZE, B=flow.BATCH)
    drawn = _flow_drawing(derivation, module_text)
    return [figures.figure(f"{cell.name}-flow", caption, drawn,
                           {"no_matplotlib": t["no_matplotlib"]})]


@functools.lru_cache(maxsize=None)
def measured_at_init(derivation: Derivation, module_text: str) -> tuple[float, ...]:
    """The carrier's norms at the spec's own initial values."""
    return flow.measure(flow.load(module_text), flow.carrier_state(derivation))


@functools.lru_cache(maxsize=None)
def _example(derivation: Derivation, module_text: str) -> example.Example:
    return example.worked_example(derivation, module_text)


def worked_example_parts(derivation: Derivation, module_text: str, lang: str) -> list:
    t = PROSE[lang]
    cell = derivation.cell
    found = _example(derivation, module_text)
    point = found.point
    given = [f"{latex_name(name, cell)} = {_fraction(v)}" for name, v in point.params.items()]
    given += [f"{latex_name(cell.input[0], cell, str(k))} = {_fraction(v)}"
              for k, v in enumerate(point.xs, start=1)]
    given += [f"{latex_name(s, cell, '0')} = {_fraction(v)}" for s, v in point.state0.items()]
    terms = [rf"{_fraction(v)} \, {latex_name(cell.output, cell, str(k))}"
             for k, v in enumerate(point.wy, start=1)]
    terms += [rf"{_fraction(v)} \, {latex_name(s, cell, str(example.STEPS))}"
              for s, v in point.ws.items()]
    header = (t["example_quantity"], t["example_module"], t["example_sympy"])

    def rows(found_rows):
        return tuple((_math(r.quantity), f"{r.module:.12g}", f"{float(r.exact):.12g}")
                     for r in found_rows)
    return [Paragraph(t["example_intro"]),
            Paragraph(t["example_given"].format(", ".join(_math(g) for g in given))),
            Paragraph(t["example_loss"].format(_math("L = " + " + ".join(terms)))),
            Table(header, rows(found.forward), caption=t["example_forward"]),
            Table(header, rows(found.backward), caption=t["example_backward"])]


def _fraction(value) -> str:
    value = sympy.Rational(value)
    if value.q == 1:
        return str(value.p)
    sign = "-" if value < 0 else ""
    return rf"{sign}\frac{{{abs(value.p)}}}{{{value.q}}}"
