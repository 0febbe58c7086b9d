"""The frameworks page: built from docs/frameworks.json (the figures of `verify against`), kept in
sync by `verify report --check`, and showing only figures measured on the current modules."""

import json

from conftest import ROOT, run

from derive.frameworks import LAYOUTS
from derive.io import pipeline
from derive.pages import render
from derive.pages.frameworks import frameworks_page

REPORT = ROOT / "docs" / "frameworks.json"


def _page(report, lang="en"):
    cells = sorted({cell for _, cell in LAYOUTS})
    derivations = {c: pipeline.derivation_of(pipeline.resolve_spec(c)) for c in cells}
    modules = {c: pipeline.module_text(d) for c, d in derivations.items()}
    return render(frameworks_page(report, lang, "docs/frameworks.json", derivations, modules),
                  "md")


def test_the_committed_report_covers_every_row_and_every_row_passed():
    data = json.loads(REPORT.read_text("utf-8"))
    rows = {(r["framework"], r["cell"]) for r in data["results"]}
    assert rows == set(LAYOUTS)
    assert all(r["passed"] for r in data["results"])


def test_the_page_names_each_layer_its_cell_layout_and_figures():
    data = json.loads(REPORT.read_text("utf-8"))
    text = _page(data)
    for layout in LAYOUTS.values():
        assert f"## {layout.layer} → {layout.cell}" in text
        for array in layout.arrays:
            assert f"| {array.name} | {layout.shape_text(array)} |" in text
    onnx_cifg = next(r for r in data["results"] if (r["framework"], r["cell"]) == ("onnx", "cifg"))
    worst = max(c["normwise_rel_err"] for c in onnx_cifg["checks"])
    assert f"| onnx LSTM | input_forget=1 | cifg | float32 | {worst:.1e} | 1e-05 | pass |" in text
    assert r"\tilde{c}_{t} = \tanh" in text  # the cell's equations, in the project's notation
    assert "权重排列" in _page(data, "zh")


def test_figures_of_another_module_are_not_shown():
    data = json.loads(REPORT.read_text("utf-8"))
    for result in data["results"]:
        if result["cell"] == "gru_cho":
            result["module_sha256"] = "0" * 64
    text = _page(data)
    assert text.count("measured on another version of the generated module") == 2
    assert "| keras.layers.GRU | reset_after=False | gru_cho | float32 | - | - | - |" in text
    assert "| onnx GRU | linear_before_reset=1 | gru | float32 | - |" not in text


def test_without_a_report_the_page_says_how_to_measure():
    text = _page(None)
    assert "`python -m verify against flax lstm --json FILE`" in text


def test_report_marks_framework_figures_of_a_changed_module_stale(tmp_path):
    """Stale framework figures do not block the other pages: the report warns, and the page
    shows those rows as stale instead of their figures."""
    data = json.loads(REPORT.read_text("utf-8"))
    data["results"][0]["module_sha256"] = "0" * 64
    fw = tmp_path / "frameworks.json"
    fw.write_text(json.dumps(data), "utf-8")
    out = tmp_path / "out"
    result = run("-m", "verify", "report", "--frameworks-json", str(fw), "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert "changed since these figures were measured" in result.stderr
    assert "verify against all" in result.stderr
    page = (out / "en" / "frameworks.md").read_text("utf-8")
    assert "| torch.nn.LSTM | none | lstm | float64 | - | - | - |" in page
