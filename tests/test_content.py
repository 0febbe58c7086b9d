"""What a cell page says and shows, beyond the step's equations (issue 11): derived recurrences,
the carrier path, parameter table, collapsed trivial derivatives, figures, worked example and the
variants page against each spec's base. Expected values are written from the papers' equations,
never read from the code under test."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest
import sympy

from derive.ad import recurrence
from derive.ad.adjoint import ElementwiseTerm, derive
from derive.ad.checks import UncheckedStep
from derive.errors import SpecError
from derive.io.pipeline import CELLS, derivation_of, module_text
from derive.pages import cell_page, comparison_page, content, example, figures, flow
from derive.spec.reader import parse_spec_text

DOCS = Path(__file__).resolve().parents[1] / "docs"
S = sympy.Symbol


def d(name):
    return derivation_of(CELLS / f"{name}.toml")


def terms_of(r):
    """A recurrence's terms as comparable objects."""
    out = set()
    for term in (*r.local, *r.arriving):
        out.add(sympy.expand(term.adjoint * term.partial) if isinstance(term, ElementwiseTerm)
                else (term.matrix, str(term.adjoint)))
    return out


def test_lstm_recurrence_is_greffs_t_plus_1_form():
    found = {r.state: r for r in recurrence.check_recurrences(d("lstm"))}
    # δc_t = δh_t ⊙ o_t ⊙ (1 − tanh² c_t) + f_{t+1} ⊙ δc_{t+1}
    tanh = sympy.Function("tanh")
    c = found["c"]
    assert not c.output
    elementwise = {t for t in terms_of(c) if not isinstance(t, tuple)}
    assert S("d_c__next") * S("f__next") in elementwise
    assert len(elementwise) == 2
    # δh_t = ∂L/∂y_t + Σ_g U_gᵀ δa_{g,t+1}
    h = found["h"]
    assert h.output
    assert terms_of(h) == {("U_i", "d_a_i__next"), ("U_f", "d_a_f__next"),
                           ("U_c", "d_a_c_tilde__next"), ("U_o", "d_a_o__next")}
    del tanh


def test_peephole_recurrence_has_the_peephole_terms():
    c = {r.state: r for r in recurrence.check_recurrences(d("peephole"))}["c"]
    elementwise = {t for t in terms_of(c) if not isinstance(t, tuple)}
    for expected in (S("V_i") * S("d_a_i__next"), S("V_f") * S("d_a_f__next"),
                     S("V_o") * S("d_a_o"), S("d_c__next") * S("f__next")):
        assert sympy.expand(expected) in elementwise


@pytest.mark.parametrize("cell", ["lstm", "peephole", "gru", "fgr"])
def test_a_wrong_recurrence_is_not_confirmed(cell, monkeypatch):
    real = recurrence.recurrences

    def dropped(derivation):
        found = real(derivation)
        last = found[-1]
        return found[:-1] + (dataclasses.replace(last, arriving=last.arriving[:-1]),)
    monkeypatch.setattr(recurrence, "recurrences", dropped)
    with pytest.raises(UncheckedStep):
        recurrence.check_recurrences(d(cell))


def test_missing_output_gradient_is_not_confirmed(monkeypatch):
    real = recurrence.recurrences
    monkeypatch.setattr(recurrence, "recurrences", lambda der: tuple(
        dataclasses.replace(r, output=False) for r in real(der)))
    with pytest.raises(UncheckedStep):
        recurrence.check_recurrences(d("lstm"))


def test_carrier_is_found_by_structure_not_by_name():
    assert [(c.state, c.gain) for c in recurrence.carriers(d("lstm"))] == [("c", S("f"))]
    assert [(c.state, c.gain) for c in recurrence.carriers(d("nfg"))] == [("c", 1)]
    assert [(c.state, c.gain) for c in recurrence.carriers(d("gru"))] == [("h", S("z"))]
    text = (CELLS / "lstm.toml").read_text("utf-8")
    renamed = re.sub(r"\bf\b", "keep", text).replace("b_f", "b_keep").replace("W_f", "W_keep")
    renamed = renamed.replace("U_f", "U_keep")
    cell = parse_spec_text(renamed, "renamed.toml")
    found = recurrence.carriers(derive(cell))
    assert [(c.state, c.defined_by) for c in found] == [("c", "keep")]


def test_gain_bias_is_the_articles_forget_bias():
    assert content.gain_bias(d("lstm")) == ("b_f", "f", 1.0)
    assert content.gain_bias(d("nfg")) is None  # no forget gate
    assert content.gain_bias(d("gru")) is None  # no constant initial value


def test_page_sections_en_and_zh():
    lstm_en = (DOCS / "en" / "lstm.md").read_text("utf-8")
    lstm_zh = (DOCS / "zh" / "lstm.md").read_text("utf-8")
    # pre-activations defined
    assert r"a_{o,t} = W_{o} x_{t} + U_{o} h_{t-1} + b_{o}" in lstm_en
    # t+1 recurrence with ∂L/∂y_t where δh_t is shown
    assert re.search(r"\\delta h_\{t\} = \\frac\{\\partial L\}\{\\partial y_\{t\}\} \+ U_\{i\}",
                     lstm_en)
    assert r"\delta c_{t+1} \odot f_{t+1}" in lstm_en
    assert "|_{t \\to t+1}" not in lstm_en
    # the 12 trivial derivatives (4 pre-activations of 3 terms each) in one place
    assert "The other 12 local derivatives equal 1" in lstm_en
    assert len(re.findall(r"\$\$\n\\frac\{\\partial a_\{[^$]*\} = 1\n\$\$", lstm_en)) == 0
    # the article's reason for b_f, in both languages
    assert "1 or 2" in lstm_en and "设为1或2" in lstm_zh
    assert "误差项" in lstm_zh and "伴随" not in lstm_zh
    for text in (lstm_en, lstm_zh):
        assert "(./lstm-cell.svg)" in text and "(./lstm-flow.svg)" in text
    fgr = (DOCS / "en" / "fgr.md").read_text("utf-8")  # a variant: its curve is elsewhere
    assert "(./fgr-flow.svg)" not in fgr and "figure below" not in fgr


def test_trivial_derivatives_break_into_short_lines():
    fgr = content.local_derivatives(d("fgr"), lambda e: str(e), "en")
    ones = fgr[-1]
    assert all(line.count(r"\frac") <= 3 for line in ones.lines)
    assert sum(line.count(r"\frac") for line in ones.lines) == 21  # 6 for each of i, f, o (W, U, three R, b) and 3 for the candidate


def test_no_ambiguous_adjoint_of_a_product_on_any_page():
    for page in sorted(DOCS.glob("*/*.md")):
        text = page.read_text("utf-8")
        assert not re.search(r"\\delta [UWRV]_\{\w+\} [a-z]", text), page
        assert "t+1-1" not in text and "{2-1}" not in text, page
    gru = (DOCS / "en" / "gru.md").read_text("utf-8")
    assert r"\delta(U_{n} h_{t-1}) \, h_{t-1}^{\top}" in gru


def test_parameter_table():
    table = content.parameter_table(d("lstm"), "en")
    assert len(table.rows) == 12
    rows = {row[0]: row for row in table.rows}
    assert rows["$b_{f}$"][3] == "$1$"
    assert rows["$W_{i}$"][1] == r"$D \times M$"
    assert "bias" in rows["$b_{o}$"][2]
    assert "diagonal" in {r[0]: r for r in content.parameter_table(d("peephole"), "en").rows}[
        "$V_{i}$"][2]


def test_diagram_drawn_from_the_spec():
    source = figures.dot_source(d("peephole").cell)
    assert source.count("style=dashed") == 2  # h and c go to the next step
    assert source.count("⊙") >= 3 and "+" in source
    drawn = figures.cell_diagram(d("lstm").cell)
    if drawn.svg is None:
        pytest.skip("needs Graphviz's dot (Debian: apt-get install graphviz)")
    assert drawn.svg.startswith("<svg") and "Generated by graphviz" not in drawn.svg
    figures._run_dot.cache_clear()
    assert figures.cell_diagram(d("lstm").cell).svg == drawn.svg


def test_pages_build_without_dot_or_matplotlib(monkeypatch):
    der = d("lstm")
    module = module_text(der)
    monkeypatch.setattr(figures, "DOT", "no-such-dot-program")
    figures._run_dot.cache_clear()
    content._flow_drawing.cache_clear()

    def no_matplotlib(*args, **kwargs):
        raise ImportError("matplotlib")
    monkeypatch.setattr(flow, "plot", no_matplotlib)
    for lang in ("en", "zh"):
        page = cell_page(der, lang, None, module)
        missing = {f.name: f for f in page.figures}
        assert missing["lstm-cell"].svg is None and "dot" in missing["lstm-cell"].missing
        assert missing["lstm-flow"].svg is None
        assert "matplotlib" in missing["lstm-flow"].missing
    figures._run_dot.cache_clear()
    content._flow_drawing.cache_clear()


def test_gradient_flow_measures_the_forget_bias_claim():
    der = d("lstm")
    module = flow.load(module_text(der))
    norms = {b: flow.measure(module, "c", (("b_f", b),)) for b in (0.0, 1.0, 2.0)}
    assert norms[2.0][-1] > norms[1.0][-1] > norms[0.0][-1]
    assert norms[0.0][-1] < 1e-3 * norms[0.0][0]  # vanishes without the bias
    nfg = flow.measure(flow.load(module_text(d("nfg"))), "c")
    assert nfg[-1] > 0.5 * nfg[0]  # unit gain: no decay along c


def test_flow_plot_is_deterministic():
    pytest.importorskip("matplotlib", reason="needs the docs extra: pip install -e '.[docs]'")
    curves = (("a", (1.0, 0.5, 0.25)), ("b", (1.0, 0.9, 0.8)))
    assert flow.plot(curves, "y")[0] == flow.plot(curves, "y")[0]


@pytest.mark.parametrize("cell", ["lstm", "gru", "lstmp"])
def test_worked_example_module_matches_sympy(cell):
    der = d(cell)
    found = example.worked_example(der, module_text(der))
    rows = found.forward + found.backward
    assert len(found.forward) >= 2 * len(der.cell.equations)
    for row in rows:
        assert abs(row.module - float(row.exact)) <= 1e-12 * max(1.0, abs(float(row.exact)))


def test_worked_example_exposes_a_wrong_module():
    der = d("lstm")
    text = module_text(der)
    assert "    d_c_prev = d_c*f\n" in text
    broken = text.replace("    d_c_prev = d_c*f\n", "    d_c_prev = 2*d_c*f\n")
    found = example.worked_example(der, broken)
    assert any(abs(r.module - float(r.exact)) > 1e-6 for r in found.backward)


def test_base_field(tmp_path):
    text = (CELLS / "lstm.toml").read_text("utf-8")
    with pytest.raises(SpecError, match="base"):
        parse_spec_text(text.replace('output = "h"', 'output = "h"\nbase = "lstm"'))
    with pytest.raises(SpecError, match="base"):
        parse_spec_text(text.replace('output = "h"', 'output = "h"\nbase = 3'))
    assert d("nig").cell.base == "peephole" and d("nfg").cell.base == "lstm"
    assert d("lstm").cell.base == ""


def test_variants_page_compares_with_the_real_base():
    names = ["lstm", "peephole", "nig", "nfg"]
    page = comparison_page([d(n) for n in names], "en")
    text = "\n".join(getattr(p, "text", "") for p in page.parts)
    equations = "\n".join(line for p in page.parts for line in getattr(p, "lines", ()))
    # nig against peephole: only the input gate goes; the peepholes are not a "change"
    nig = text[text.index("nig:"):]
    assert "Compared with `peephole`" in nig
    params = nig[nig.index("Parameters added"):].split("\n")[0]
    assert params.endswith("removed: $V_{i}$, $W_{i}$, $U_{i}$, $b_{i}$.".replace(
        "$V_{i}$, $W_{i}$, $U_{i}$, $b_{i}$", ", ".join(sorted(
            ["$V_{i}$", "$W_{i}$", "$U_{i}$", "$b_{i}$"]))))
    assert "c_tilde" not in text and "removed: -" not in text
    assert "δ" not in text and r"h_{t+1-1}" not in equations
    # the backward changes too: nfg's δc_t loses f_{t+1}
    assert r"\text{nfg:} \quad & \delta c_{t}" in equations
    assert r"\delta c_{t+1} \odot f_{t+1}" in equations
    fgr = comparison_page([d("peephole"), d("fgr")], "en")
    fgr_lines = [line for p in fgr.parts for line in getattr(p, "lines", ())]
    assert not any(re.search(r"\\delta [ifo]_\{t\} = 0", line) for line in fgr_lines)
    assert any(line.startswith(r"\delta i_{t} = \tilde{c}_{t} \odot \delta c_{t}")
               for line in fgr_lines)
