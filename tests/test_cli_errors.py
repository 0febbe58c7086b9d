"""Every command fails with one error line: exit 2 for bad input, 1 for a failed check or a
refusal, and a traceback only for a bug in gatecalc itself, with a line saying so."""

import subprocess
import sys

import pytest

from conftest import ROOT, run

LSTM = ROOT / "derive" / "cells" / "lstm.toml"


def one_error_line(result, code: int, start: str):
    assert result.returncode == code, (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr, result.stderr
    lines = [line for line in result.stderr.splitlines() if not line.startswith("[")]
    assert lines and lines[0].startswith(start), result.stderr
    return lines[0]


@pytest.mark.parametrize("out_kind", ["a file", "/dev/null", "a file inside a file"])
def test_codegen_into_a_path_that_is_no_folder(tmp_path, out_kind):
    afile = tmp_path / "afile"
    afile.write_text("mine")
    out = {"a file": afile, "/dev/null": "/dev/null", "a file inside a file": afile / "sub"}[out_kind]
    result = run("-m", "derive", "codegen", "lstm", "--out", str(out))
    one_error_line(result, 2, "error: cannot write ")
    assert afile.read_text() == "mine"


def test_codegen_into_a_folder_that_cannot_be_written(tmp_path):
    result = run("-m", "derive", "codegen", "lstm", "--out", "/proc/gatecalc-test")
    one_error_line(result, 2, "error: cannot write /proc/gatecalc-test/lstm.py")


def test_codegen_onto_a_folder_named_like_the_module(tmp_path):
    (tmp_path / "lstm.py").mkdir()
    result = run("-m", "derive", "codegen", "lstm", "--out", str(tmp_path))
    one_error_line(result, 2, "error: cannot write ")


def test_new_into_a_file(tmp_path):
    afile = tmp_path / "afile"
    afile.write_text("mine")
    result = run("-m", "derive", "new", "mine", "--out", str(afile))
    one_error_line(result, 2, "error: cannot write ")


def test_a_spec_that_never_ends_is_refused(tmp_path):
    try:
        result = subprocess.run([sys.executable, "-m", "derive", "show", "/dev/zero"], cwd=ROOT,
                                capture_output=True, text=True, timeout=60)
    except subprocess.TimeoutExpired:
        pytest.fail("reading /dev/zero did not stop")
    one_error_line(result, 2, "/dev/zero:1:1: error: spec is larger than")


def test_a_folder_as_a_spec():
    result = run("-m", "derive", "show", str(ROOT / "derive"))
    one_error_line(result, 2, f"{ROOT / 'derive'}:1:1: error: cannot read spec")


def test_verify_json_into_a_folder_is_refused_before_any_check(tmp_path):
    result = run("-m", "verify", "check", "lstm", "--json", str(tmp_path))
    one_error_line(result, 2, f"error: --json {tmp_path}: not a file path")
    assert "lstm: central" not in result.stderr  # nothing ran


def test_verify_json_into_a_missing_folder_is_refused_before_any_check(tmp_path):
    target = tmp_path / "nodir" / "r.json"
    result = run("-m", "verify", "check", "lstm", "--json", str(target))
    one_error_line(result, 2, f"error: --json {target}: the folder {target.parent} does not exist")
    assert "lstm: central" not in result.stderr


@pytest.mark.parametrize("content, problem", [
    ("{not json", "not a readable JSON report"),
    ("[1, 2]", "not an object with a list of results"),
    ('{"results": [{"cell": 3}]}', "results[0].cell is missing or not a str"),
    ('{"results": [{"cell": "lstm", "module": "m.py", "method": "central", "dtype": "float64", '
     '"seed": 0, "sizes": {"T": 1}, "passed": true, "checks": []}]}',
     "results[0].sizes needs integers T, B, M, D"),
    ('{"results": [{"cell": "lstm", "module": "m.py", "method": "central", "dtype": "float64", '
     '"seed": 0, "sizes": {"T": 1, "B": 1, "M": 1, "D": 1}, "passed": true, '
     '"checks": [{"wrt": "W"}]}]}', "results[0].checks[0].threshold is missing"),
])
def test_verify_report_on_a_file_that_is_no_report(tmp_path, content, problem):
    path = tmp_path / "r.json"
    path.write_text(content)
    result = run("-m", "verify", "report", "--json", str(path), "--out", str(tmp_path / "out"))
    line = one_error_line(result, 2, f"error: {path}: ")
    assert problem in line
    assert not (tmp_path / "out").exists()


def test_verify_report_accepts_the_committed_report(tmp_path):
    result = run("-m", "verify", "report", "--json", str(ROOT / "docs" / "verification.json"),
                 "--out", str(tmp_path), "--check")
    assert "error" not in result.stderr


def test_a_negative_seed_is_refused():
    one_error_line(run("-m", "verify", "check", "lstm", "--seed", "-1"), 2,
                   "error: --seed takes a non-negative integer")


def test_sizes_that_cannot_fit_are_refused_with_an_estimate():
    result = run("-m", "verify", "check", "lstm", "--sizes", "100000,1000,1000,1000")
    line = one_error_line(result, 2, "error: --sizes 100000,1000,1000,1000 would need about ")
    estimate = int(line.split("about ")[1].split(" GiB")[0])
    assert estimate >= 745  # x alone: 100000 * 1000 * 1000 float64 values


def test_a_module_of_another_cell_is_refused():
    result = run("-m", "verify", "check", "lstm", "--module",
                 str(ROOT / "derive" / "generated" / "gru.py"), "--method", "central")
    one_error_line(result, 2, "error: ")
    assert "implements cell 'gru', not 'lstm'" in result.stderr


def test_a_module_of_another_version_of_the_spec_is_refused(tmp_path):
    spec = tmp_path / "lstm.toml"
    spec.write_text(LSTM.read_text().replace('title = "', 'title = "Changed ', 1))
    result = run("-m", "verify", "check", str(spec), "--module",
                 str(ROOT / "derive" / "generated" / "lstm.py"))
    one_error_line(result, 2, "error: ")
    assert "SPEC_SHA256 differs" in result.stderr


def test_a_module_that_fails_to_import_is_named(tmp_path):
    broken = tmp_path / "lstm.py"
    broken.write_text("INIT = {'b': inf}\n")
    result = run("-m", "verify", "check", "lstm", "--module", str(broken))
    one_error_line(result, 2, f"error: cannot load module {broken}: NameError")


BUG = """
import sys
from derive.ad import checks
def broken(*args, **kwargs):
    raise checks.UncheckedStep("dh/dc: SymPy could not confirm the step")
checks.checked_steps = broken
import derive.pages.cell_page as docs
docs.checked_steps = broken
from derive.__main__ import main
sys.exit(main(["docs", "lstm", "--out", sys.argv[1], "--format", "md"]))
"""


def test_a_bug_in_gatecalc_says_so_and_how_to_report_it(tmp_path):
    result = run("-c", BUG, str(tmp_path / "out"))
    assert result.returncode == 3
    assert "Traceback" in result.stderr and "UncheckedStep" in result.stderr
    assert result.stderr.rstrip().splitlines()[-1].startswith(
        "error: this is a bug in gatecalc, not in your input: please report it")
    assert not (tmp_path / "out").exists()


def test_verify_bug_says_so_too(tmp_path):
    code = ("import sys\nimport verify.gradcheck as g\nimport verify.__main__ as m\n"
            "def boom(*a, **k):\n    raise ValueError('printer broke')\n"
            "m.check = boom\nsys.exit(m.main(['check', 'lstm']))\n")
    result = run("-c", code)
    assert result.returncode == 3 and "ValueError: printer broke" in result.stderr
    assert "this is a bug in gatecalc" in result.stderr.splitlines()[-1]
