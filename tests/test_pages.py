"""How the pages read: each test names a defect a reader saw (issue 11) and fails on it. The
tests read the committed pages (what a reader gets) and the renderers' output for small parts."""

import re
import shutil
import subprocess
import xml.etree.ElementTree as ET

import pytest

from conftest import ALL_CELLS, ROOT
from derive.frameworks import LAYOUTS
from derive.pages import Equation, Figure, Page, Paragraph, Table, render
from derive.pages.mathml import to_mathml

DOCS = ROOT / "docs"
M = "{http://www.w3.org/1998/Math/MathML}"
HTML_PAGES = sorted(DOCS.glob("*/*.html"))
MD_PAGES = sorted(DOCS.glob("*/*.md"))
CJK = re.compile(r"[\u3000-\u303f\u4e00-\u9fff\uff00-\uffef]")


def ids(path):
    return f"{path.parent.name}/{path.name}"


def maths(html: str):
    return [ET.fromstring(m) for m in re.findall(r"<math\b.*?</math>", html, re.S)]


# -- 1. a power of a parenthesised group ---------------------------------------------------------

def test_a_power_of_a_parenthesised_group_raises_the_whole_group():
    (sup,) = ET.fromstring(to_mathml(r"\tanh\left(c_{t}\right)^{2}")).iter(f"{M}msup")
    assert [mo.text for mo in sup[0].iter(f"{M}mo")] == ["(", ")"]


@pytest.mark.parametrize("page", HTML_PAGES, ids=ids)
def test_no_superscript_sits_on_a_lone_closing_bracket(page):
    for math in maths(page.read_text("utf-8")):
        for sup in math.iter(f"{M}msup"):
            assert not (sup[0].tag == f"{M}mo" and sup[0].text in ")]"), ET.tostring(sup)


# -- 2. spacing, contents, fonts ------------------------------------------------------------------

def test_text_in_math_keeps_its_spaces():
    (mtext,) = ET.fromstring(to_mathml(r"a \text{ is added to } b")).iter(f"{M}mtext")
    assert mtext.text == "\u00a0is added to\u00a0"  # MathML trims ordinary spaces


@pytest.mark.parametrize("page", HTML_PAGES, ids=ids)
def test_no_mtext_relies_on_edge_spaces(page):
    for math in maths(page.read_text("utf-8")):
        for mtext in math.iter(f"{M}mtext"):
            assert mtext.text == mtext.text.strip(" "), mtext.text


@pytest.mark.parametrize("page", HTML_PAGES, ids=ids)
def test_brackets_stretch_only_around_tall_content(page):
    """Chromium sets a stretchy bracket with wide side bearings: σ ( W x ) instead of σ(Wx)."""
    tall = {f"{M}mfrac", f"{M}mtable", f"{M}munderover", f"{M}munder"}
    for math in maths(page.read_text("utf-8")):
        parents = {child: parent for parent in math.iter() for child in parent}
        for mo in math.iter(f"{M}mo"):
            if mo.text in ("(", ")", "[", "]") and mo.get("stretchy") != "false":
                assert any(el.tag in tall for el in parents[mo].iter()), ET.tostring(parents[mo])


@pytest.mark.parametrize("page", HTML_PAGES, ids=ids)
def test_the_contents_come_after_the_title(page):
    html = page.read_text("utf-8")
    assert html.index("<h1") < html.index("<nav") if "<nav" in html else "<h1" in html


@pytest.mark.parametrize("page", sorted(DOCS.glob("zh/*.html")), ids=ids)
def test_chinese_pages_name_cjk_fonts(page):
    style = re.search(r"body\{font-family:([^;]*);", page.read_text("utf-8")).group(1)
    for family in ("Noto Sans CJK SC", "Source Han Sans SC", "PingFang SC", "Microsoft YaHei"):
        assert f'"{family}"' in style
    assert style.endswith("sans-serif")


# -- 3. tables and their captions in LaTeX -------------------------------------------------------

@pytest.mark.parametrize("lang", ["en", "zh"])
def test_each_latex_table_ends_its_paragraph_under_its_own_caption(lang):
    tex = (DOCS / lang / "verification.tex").read_text("utf-8")
    tables = re.findall(r"([^\n]*)\n\\begin\{tabular\}.*?\\end\{tabular\}([^\n]*)", tex, re.S)
    assert len(tables) > 10
    for caption, after in tables:
        assert caption.endswith(r"\par\nopagebreak") and after.startswith(r"\par"), (caption, after)


# -- 4. long equations break into lines, never shrink -------------------------------------------

@pytest.mark.parametrize("page", sorted(DOCS.glob("*/*.tex")), ids=ids)
def test_no_equation_is_scaled_down(page):
    tex = page.read_text("utf-8")
    assert r"\resizebox" not in tex and r"\scalebox" not in tex and r"\fiteq" not in tex


def test_fgrs_many_equal_error_terms_stand_one_per_line():
    tex = (DOCS / "en" / "fgr.tex").read_text("utf-8")
    blocks = [b.split(" \\\\\n") for b in
              re.findall(r"\\begin\{align\*\}\n(.*?)\n\\end\{align\*\}", tex, re.S)]
    equalities = [b for b in blocks if all(line.startswith(r"\delta(") for line in b)]
    assert max(len(b) for b in equalities) >= 17  # one equality per line
    assert all(line.count("&=") == 1 for b in equalities for line in b)
    html = (DOCS / "en" / "fgr.html").read_text("utf-8")
    tables = re.findall(r'<table class="aligned">(.*?)</table>', html, re.S)
    assert max(t.count("<tr>") for t in tables) >= 17


@pytest.mark.skipif(shutil.which("xelatex") is None, reason="needs xelatex (texlive-xetex)")
def test_fgrs_pdf_has_no_line_wider_than_the_page(tmp_path):
    from derive import pages
    from derive.io import pipeline

    (page,) = [p for p in pipeline.doc_pages([pipeline.derivation_of(pipeline.CELLS / "fgr.toml")],
                                              ("en",), comparison=False)]
    (tmp_path / "fgr.tex").write_text(pages.render(page, "tex"), "utf-8")
    for name, data in pages.pdf_attachments(page).items():  # the figures LaTeX includes
        (tmp_path / name).write_bytes(data)
    subprocess.run(["xelatex", "-interaction=nonstopmode", "-halt-on-error", "fgr.tex"],
                   cwd=tmp_path, capture_output=True, timeout=300, check=True)
    log = (tmp_path / "fgr.log").read_text("utf-8", errors="replace")
    widths = [float(w) for w in re.findall(r"Overfull \\hbox \(([0-9.]+)pt too wide\)", log)]
    assert not [w for w in widths if w > 2.0], widths


# -- 5. notation read off each cell; real matrix names; the article cited -----------------------

def test_grus_notation_names_its_own_gates():
    md = (DOCS / "en" / "gru.md").read_text("utf-8")
    notation = next(line for line in md.splitlines() if line.startswith("Notation"))
    for name in ("r_{t}$ (reset gate)", "z_{t}$ (update gate)", "n_{t}", "h_{t}"):
        assert name in notation
    for lstm_word in ("forget gate", "memory cell", "i_{t}", "o_{t}"):
        assert lstm_word not in notation


def test_stacked_forms_are_labelled_with_the_real_matrices():
    gru = (DOCS / "en" / "gru.md").read_text("utf-8")
    assert r"U \in \mathbb{R}^{3D \times D}" in gru and r"W \in \mathbb{R}^{3D \times M}" in gru
    lstmp = (DOCS / "en" / "lstmp.md").read_text("utf-8")
    assert r"W \in \mathbb{R}^{P \times D}" not in lstmp
    for page in MD_PAGES:
        single = re.search(r"\\begin\{bmatrix\} [^&\\]* \\end\{bmatrix\}", page.read_text("utf-8"))
        assert single is None, (page, single and single.group(0))


@pytest.mark.parametrize("page", MD_PAGES, ids=ids)
def test_the_article_is_cited_by_its_title(page):
    md = page.read_text("utf-8")
    assert "seed article" not in md and "the article's" not in md
    if "the matrix $W$ of" in md or "中的矩阵 $W$" in md:
        assert "Baileys" in md and "LSTM" in md


@pytest.mark.parametrize("lang", ["en", "zh"])
@pytest.mark.parametrize("name", ["nfg", "cifg"])
def test_the_article_cells_cite_it(name, lang):
    source = next(line for line in (DOCS / lang / f"{name}.md").read_text("utf-8").splitlines()
                  if line.startswith(("Source:", "来源：")))
    assert "Baileys" in source and "LSTM" in source


# -- 6. Chinese pages in Chinese --------------------------------------------------------------

ALLOWED = set(ALL_CELLS) | {"LSTM", "lstm", "GRU", "SymPy", "NumPy", "PyTorch", "float64",
                            "float32", "complex128", "dtype", "gatecalc", "Cho"}  # names
# the parts of cell names (gru_cho) and the frameworks' layer names (torch.nn.LSTM) are names
ALLOWED |= {part for name in ALL_CELLS for part in name.split("_")}
ALLOWED |= {word for layout in LAYOUTS.values() for word in re.findall(r"[A-Za-z]+", layout.layer)}


def _english_words(text: str) -> set[str]:
    text = re.sub(r"\$[^$]*\$|`[^`]*`", "", text)
    return {w for w in re.findall(r"[A-Za-z]{3,}", text) if w not in ALLOWED}


@pytest.mark.parametrize("page", sorted(DOCS.glob("zh/*.md")), ids=ids)
def test_chinese_pages_have_chinese_headings_titles_and_table_heads(page):
    md = page.read_text("utf-8")
    title = re.search(r'^title: "(.*)"$', md, re.M).group(1)
    headings = re.findall(r"^#+ (.*)$", md, re.M)
    table_heads = [line for i, line in enumerate(md.splitlines()[:-1])
                   if line.startswith("| ") and md.splitlines()[i + 1].startswith("| ---")]
    for text in [title, *headings, *table_heads]:
        assert not _english_words(text), text
    assert "伴随" not in md and "来源:" not in md and "wrt" not in md


def test_chinese_uses_the_articles_distinct_words():
    md = (DOCS / "zh" / "lstm.md").read_text("utf-8")
    assert "逐元素" in md and "记忆单元" in md and "误差项" in md and "来源：" in md
    assert "按单元" not in md  # 单元 was "per unit", "cell" and "memory cell" at once


# -- 7. Markdown for VuePress (theme-hope) and MkDocs -------------------------------------------

@pytest.mark.parametrize("page", MD_PAGES, ids=ids)
def test_markdown_front_matter_is_theme_hopes_and_the_title_shows_once(page):
    md = page.read_text("utf-8")
    front = md.split("\n---\n", 1)[0]
    assert "\ntag:\n  - " in front and "\ncategory:\n  - " in front and "\ntags:" not in front
    body = re.sub(r"```.*?```", "", md.split("\n---\n", 1)[1], flags=re.S)
    assert not re.search(r"^# ", body, re.M)  # the front-matter title is the only title


@pytest.mark.parametrize("page", MD_PAGES, ids=ids)
def test_markdown_math_holds_no_cjk_and_blocks_stand_alone(page):
    md = page.read_text("utf-8")
    for block in re.findall(r"\$\$(.*?)\$\$", md, re.S):
        assert not CJK.search(block), block
    lines = md.splitlines()
    for i, line in enumerate(lines):
        if "$$" in line:
            assert line == "$$", line  # arithmatex and markdown-it's math take $$ on its own line
    opening = [i for i, line in enumerate(lines) if line == "$$"][::2]
    assert all(lines[i - 1] == "" for i in opening)
    for inline in re.findall(r"(?<!\$)\$([^$\n]+)\$(?!\$)", md):
        assert not CJK.search(inline), inline


# -- renderers: every part type, every format ----------------------------------------------------

def test_every_format_renders_every_part_and_says_why_a_figure_is_missing():
    page = Page("p", "T", "en", ("x",), (
        Paragraph("a $x$"), Equation(("a &= b", "&\\quad + c")),
        Table(("h",), (("$y$",),), caption="cap"),
        Figure("p-fig", "A drawing", svg=None, missing="not available: no dot")))
    for fmt in ("md", "html", "tex"):
        text = render(page, fmt)
        assert "A drawing" in text and "not available: no dot" in text and "cap" in text


# -- HTML5 -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("page", HTML_PAGES, ids=ids)
def test_every_html_page_is_valid_html5(page):
    html5lib = pytest.importorskip("html5lib", reason="needs the test extra: pip install -e '.[test]'")
    parser = html5lib.HTMLParser(strict=True, namespaceHTMLElements=False)
    parser.parse(page.read_text("utf-8"))  # raises on the first parse error
    for math in re.findall(r"<math\b.*?</math>", page.read_text("utf-8"), re.S):
        ET.fromstring(math)  # MathML fragments are well-formed XML


def test_the_html5_check_catches_a_broken_page():
    html5lib = pytest.importorskip("html5lib", reason="needs the test extra: pip install -e '.[test]'")
    with pytest.raises(Exception):
        html5lib.HTMLParser(strict=True).parse("<!DOCTYPE html><p>a</span></p>")


def test_a_long_sum_breaks_into_aligned_lines_and_a_short_one_does_not():
    from derive.pages.layout import broken
    terms = [rf"R_{{{g}{h}}}^{{\top}} \delta a_{{{g},t}}" for g in "ifo" for h in "ifo"]
    long = broken(r"\delta i_{t-1}", terms, width=40)
    assert len(long.lines) > 1 and long.lines[0].startswith(r"\delta i_{t-1} &= ")
    assert all(line.startswith(r"&\quad + ") for line in long.lines[1:])
    joined = " + ".join(line.split("&= ")[-1].removeprefix(r"&\quad + ") for line in long.lines)
    assert joined == " + ".join(terms)  # nothing lost, order kept
    assert broken("a", ["b", "c"]).lines == ("a = b + c",)


def test_a_figure_reaches_every_format_and_the_pdf(tmp_path):
    """SVG inline in HTML, a file beside the Markdown, the PDF drawing included by LaTeX."""
    matplotlib = pytest.importorskip("matplotlib", reason="needs the docs extra: pip install -e '.[docs]'")
    matplotlib.use("Agg")
    import io
    from matplotlib.figure import Figure as Canvas
    from derive import pages

    canvas = Canvas(figsize=(2, 1))
    canvas.add_subplot().plot([0, 1], [1, 0])
    svg, pdf = io.StringIO(), io.BytesIO()
    canvas.savefig(svg, format="svg")
    canvas.savefig(pdf, format="pdf")
    page = Page("p", "T", "en", ("x",), (Figure("p-plot", "A plot", svg.getvalue(), pdf.getvalue()),))
    files = {a.path.name: a.text for a in pages.page_files(page, tmp_path, ("md", "html", "tex"))}
    assert "](./p-plot.svg)" in files["p.md"] and files["p-plot.svg"] == svg.getvalue()
    assert "<figure><svg" in files["p.html"] and "<?xml" not in files["p.html"]
    assert r"\includegraphics" in files["p.tex"] and "{p-plot.pdf}" in files["p.tex"]
    if shutil.which("xelatex") is None:
        pytest.skip("needs xelatex (texlive-xetex) for the PDF half")
    tex = next(a for a in pages.page_files(page, tmp_path, ("tex",)))
    (built,) = pages.build_pdfs([tex], {tex.path: pages.pdf_attachments(page)})
    assert built.read_bytes().startswith(b"%PDF")
