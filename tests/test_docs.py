"""Derivation documents: present for every cell in both languages, math well-formed, every
displayed step true, nothing shown that SymPy could not confirm."""

import dataclasses
import hashlib
import json
import random
import re
import xml.etree.ElementTree as ET

import pytest
import sympy

from conftest import ALL_CELLS, ROOT, run
from derive.io import pipeline
from derive import pages as docs
from derive.ad.adjoint import derive
from derive.ad.blocks import block_of, to_builtin
from derive.ad.checks import UncheckedStep, checked_steps
from derive.pages.mathml import to_mathml
from derive.pages.prose import PROSE
from derive.spec.reader import parse_spec

DOCS = ROOT / "docs"
MATHML = "{http://www.w3.org/1998/Math/MathML}"


def derivation(name):
    return derive(parse_spec(pipeline.CELLS / f"{name}.toml"))


@pytest.mark.parametrize("lang", ["en", "zh"])
@pytest.mark.parametrize("name", ALL_CELLS)
def test_every_cell_has_its_pages(name, lang):
    for fmt in ("md", "html", "tex"):
        assert (DOCS / lang / f"{name}.{fmt}").is_file()
    md = (DOCS / lang / f"{name}.md").read_text()
    assert md.startswith("---\ntitle: ") and "\ntag:\n" in md  # vuepress-theme-hope front matter
    assert "$$" in md and "```python\ndef step_backward(" in md


@pytest.mark.parametrize("page", sorted(DOCS.glob("*/*.html")), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_html_math_is_well_formed_mathml_with_no_raw_tex(page):
    html = page.read_text()
    maths = re.findall(r"<math\b.*?</math>", html, re.S)
    assert maths or page.stem == "verification", "a derivation page without math"
    for math in maths:
        root = ET.fromstring(math)  # raises on malformed XML
        assert root.tag == f"{MATHML}math"
        assert all(el.tag.startswith(MATHML) for el in root.iter())
    html = re.sub(r"<svg\b.*?</svg>", "<svg></svg>", html, flags=re.S)  # figures: checked apart
    text_outside_code = re.sub(r"<pre>.*?</pre>|<math\b.*?</math>", "", html, flags=re.S)
    assert "$$" not in html and "$" not in text_outside_code
    assert "\\" not in text_outside_code  # no LaTeX command escaped into the page
    assert "<nav>" in html and 'href="#' in html  # a table of contents
    assert "http" not in re.sub(r'xmlns="http://www.w3.org/1998/Math/MathML"', "", html)


def test_mathml_of_the_constructs_we_print():
    cases = {
        r"\tilde{c}_{t}": "<msub><mover",
        r"\frac{\partial L}{\partial W_{i}}": "<mfrac>",
        r"\begin{bmatrix} a & b \\ c & d \end{bmatrix}": "<mtable><mtr><mtd><mi>a</mi></mtd>",
        r"\sum_{t=1}^{T} x_{t}": "<munderover><mo>∑</mo>",
    }
    for latex, fragment in cases.items():
        assert fragment in to_mathml(latex), latex
    with pytest.raises(ValueError, match="no MathML"):
        to_mathml(r"\unknowncommand{x}")


@pytest.mark.parametrize("name", ALL_CELLS)
def test_every_displayed_step_holds_numerically_too(name):
    """Independent of simplify: both sides of each step agree at random points."""
    d = derivation(name)
    definitions = {sympy.Symbol(s.target): to_builtin(s.expr) for s in d.forward
                   if s.expr is not None and block_of(s.expr) is not None}
    rng = random.Random(0)
    for step in checked_steps(d):
        left = step.builtin.xreplace(definitions)
        right = to_builtin(step.derived).xreplace(definitions)
        symbols = sorted((left - right).free_symbols, key=str)
        for _ in range(3):
            point = {s: sympy.Rational(rng.uniform(-2, 2)) for s in symbols}
            assert abs(complex((left - right).evalf(40, subs=point))) < 1e-30


def test_a_step_sympy_cannot_confirm_is_never_shown():
    d = derivation("lstm")
    wrong = [dataclasses.replace(l, expr=l.expr * 2) if l.target == "i" else l
             for l in d.local_derivatives]
    tampered = dataclasses.replace(d, local_derivatives=tuple(wrong))
    with pytest.raises(UncheckedStep, match="di/da_i"):
        checked_steps(tampered)
    with pytest.raises(UncheckedStep):
        docs.cell_page(tampered, "en", None, pipeline.module_text(d))


def test_forward_equations_keep_the_written_order():
    md = (DOCS / "en" / "lstm.md").read_text()
    assert r"i_{t} = \sigma\left(W_{i} x_{t} + U_{i} h_{t-1} + b_{i}\right)" in md
    assert r"[W \;\; U] \in \mathbb{R}^{4D \times (M + D)}" in md  # the article's stacked form


def test_chinese_pages_use_the_articles_terms():
    zh = (DOCS / "zh" / "lstm.md").read_text()
    for term in ("遗忘门", "输入门", "输出门", "候选状态", "记忆单元", "外部状态"):
        assert term in zh
    assert "Notation" not in zh


def test_variant_comparison_is_computed_from_the_specs():
    page = (DOCS / "en" / "variants.md").read_text()
    sections = dict(re.findall(r"## (\w+): [^\n]*\n(.*?)(?=\n## |\Z)", page, re.S))
    assert "Compared with `lstm`" in sections["nfg"]
    assert "Removes the equation for $f_{t}$" in sections["nfg"]
    assert "Changes the equation for $c_{t}$" in sections["nfg"]
    assert "Changes the equation for $f_{t}$" in sections["cifg"]
    assert "Parameters added: none; removed: $U_{f}$, $W_{f}$, $b_{f}$." in sections["cifg"]
    assert "Compared with `peephole`" in sections["nog"]
    assert "Removes the equation for $o_{t}$" in sections["nog"]
    assert "Adds an equation for $m_{t}$" in sections["lstmp"]
    for gate in ("i", "f", "o"):  # the peepholes change every gate, not the candidate
        assert f"Changes the equation for ${gate}_{{t}}$" in sections["peephole"]
    assert r"Unchanged: $\tilde{c}_{t}$, $c_{t}$, $h_{t}$." in sections["peephole"]
    # against peephole, nig changes no other gate: only i goes
    assert "Changes the equation for $f_{t}$" not in sections["nig"]


def test_docs_command_writes_pages_for_a_users_spec(tmp_path):
    result = run("-m", "derive", "docs", str(pipeline.CELLS / "gru.toml"), "--out",
                 str(tmp_path), "--format", "md,html", "--lang", "zh")
    assert result.returncode == 0, result.stderr
    names = {p.name for p in (tmp_path / "zh").iterdir()}
    assert {"gru.html", "gru.md"} <= names  # and the figures the Markdown links, if drawn
    assert all(n.startswith("gru-") and n.endswith(".svg") for n in names - {"gru.html", "gru.md"})


def test_verification_page_is_in_sync_with_the_report():
    result = run("-m", "verify", "report", "--out", "docs", "--check")
    assert result.returncode == 0, result.stdout
    page = (DOCS / "en" / "verification.md").read_text()
    assert "## lstm" in page and "`complex`, float64" in page


def _report_with(tmp_path, change):
    """The committed report with ``change`` applied to its first result, and `verify report`
    run on it into a fresh folder."""
    data = json.loads((DOCS / "verification.json").read_text("utf-8"))
    change(data["results"][0])
    report = tmp_path / "report.json"
    report.write_text(json.dumps(data), "utf-8")
    out = tmp_path / "out"
    return run("-m", "verify", "report", "--json", str(report), "--out", str(out)), out


def test_report_refuses_figures_measured_on_another_module_and_writes_nothing(tmp_path):
    def edit(result):
        result["module_sha256"] = "0" * 64

    result, out = _report_with(tmp_path, edit)
    assert result.returncode == 1
    assert "derive/generated/cifg.py: changed since these figures were measured" in result.stderr
    assert "python -m verify check --all --method all --json" in result.stderr
    assert not out.exists()


def test_report_refuses_figures_with_no_module_hash(tmp_path):
    result, out = _report_with(tmp_path, lambda r: r.pop("module_sha256"))
    assert result.returncode == 1 and "records no SHA-256" in result.stderr and not out.exists()


def test_report_accepts_figures_of_a_module_that_is_gone(tmp_path):
    """A spec's module generated into a temporary folder cannot be compared any more."""
    def edit(result):
        result["module"] = str(tmp_path / "gone" / "cell.py")
        result["module_sha256"] = "0" * 64

    result, out = _report_with(tmp_path, edit)
    assert result.returncode == 0, result.stderr
    assert (out / "en" / "verification.md").exists()


def test_check_records_the_sha256_of_the_module_it_checked(tmp_path):
    report = tmp_path / "r.json"
    result = run("-m", "verify", "check", "nfg", "--method", "central", "--json", str(report))
    assert result.returncode == 0, result.stderr
    (entry,) = json.loads(report.read_text("utf-8"))["results"]
    module = ROOT / "derive" / "generated" / "nfg.py"
    assert entry["module"] == "derive/generated/nfg.py"
    assert entry["module_sha256"] == hashlib.sha256(module.read_bytes()).hexdigest()


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_a_cell_page_shows_only_figures_measured_on_its_module(lang):
    """The committed report's figures for nfg are shown; with the module's hash changed in the
    report (as after an equation edit and regen without a new check) none of them is, and the
    page says how to measure again; with one result changed, the others are shown and it says
    how many are not."""
    report = json.loads((DOCS / "verification.json").read_text("utf-8"))
    d = derivation("nfg")
    module = pipeline.module_text(d)

    def text(report):
        return docs.render(docs.cell_page(d, lang, report, module), "md")

    current = text(report)
    assert "| central | float64 |" in current and PROSE[lang]["stale_report"] not in current
    nfg = [r for r in report["results"] if r["cell"] == "nfg"]
    for r in nfg:
        r["module_sha256"] = "0" * 64
    stale = text(report)
    assert "| central | float64 |" not in stale and PROSE[lang]["stale_report"] in stale
    nfg[0]["module_sha256"] = [r for r in json.loads((DOCS / "verification.json").read_text())
                               ["results"] if r["cell"] == "nfg"][0]["module_sha256"]
    partial = text(report)
    assert f"| {nfg[0]['method']} | float64 |" in partial
    assert PROSE[lang]["stale_results"].format(n=len(nfg) - 1) in partial
