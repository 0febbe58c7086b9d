"""Nothing user-written is executed: hostile specs get exit 2, a clear message, no side effect."""

import pytest

from conftest import run

SPEC = '''name = "hostile"
title = "{title}"
sizes = {{ M = "input_size", D = "hidden_size" }}
input = {{ x = "M" }}
state = {{ h = "D" }}
output = "h"
equations = """
h = {equation}
"""
[params]
W = ["D", "M"]
'''

HOSTILE = {
    "import call": "__import__('os').system('touch {marker}')",
    "builtins via attribute chain": "().__class__.__bases__[0].__subclasses__()",
    "eval": "eval(\"open('{marker}', 'w')\")",
    "format-string trick": "'{{0.__globals__}}'.format(tanh)",
    "f-string": "f'{{open(\"{marker}\", \"w\")}}'",
    "huge exponent": "x ** 10 ** 100",
    "tower of powers": "9 ** 9 ** 9 ** 9",
    "deep parentheses": "(" * 500 + "x" + ")" * 500,
    "deep calls": "tanh(" * 300 + "W @ x" + ")" * 300,
    "deep unary": "-" * 5000 + "x",
    "infinite number": "1e999 * x",
    "walrus": "(y := open('{marker}', 'w'))",
    "lambda call": "(lambda: open('{marker}', 'w'))()",
    "getattr": "getattr(x, '__class__')",
    "dunder name": "__builtins__",
}


@pytest.mark.parametrize("name", list(HOSTILE))
def test_hostile_equation_is_refused_without_side_effects(name, tmp_path):
    marker = tmp_path / "pwned"
    equation = HOSTILE[name].format(marker=marker)
    spec = tmp_path / "hostile.toml"
    spec.write_text(SPEC.format(title="t", equation=equation.replace("\\", "\\\\")))
    out = tmp_path / "out"
    for command in (["-m", "derive", "codegen", str(spec), "--out", str(out)],
                    ["-m", "derive", "show", str(spec)],
                    ["-m", "verify", "check", str(spec)]):
        result = run(*command)
        assert result.returncode == 2, (command, result.stdout, result.stderr)
        assert "Traceback" not in result.stderr
        assert result.stderr.startswith(f"{spec}:8:"), result.stderr[:300]
        assert "error:" in result.stderr.splitlines()[0]
    assert not marker.exists()
    assert not out.exists()


def test_text_that_would_escape_the_generated_docstring_is_refused(tmp_path):
    marker = tmp_path / "pwned"
    spec = tmp_path / "hostile.toml"
    title = f'x\\"\\"\\"; open(\\"{marker}\\", \\"w\\"); \\"\\"\\"'
    spec.write_text(SPEC.format(title=title, equation="tanh(W @ x)"))
    result = run("-m", "derive", "codegen", str(spec), "--out", str(tmp_path / "out"))
    assert result.returncode == 2
    assert f"{spec}:2:1: error: field 'title' must be one line" in result.stderr
    assert not marker.exists()


# -- any text at all gets a located error or a cell, never a traceback ----------------------------

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from derive.errors import SpecError  # noqa: E402
from derive.spec.reader import parse_spec_text  # noqa: E402

TOKENS = ["x", "h_prev", "W", "tanh", "sigmoid", "exp", "log", "(", ")", "+", "-", "*", "/",
          "@", "**", "2", "0.5", "1e999", "9", ",", ".", "[", "]", "'", '"', "=", "==", "lambda",
          ":", "__class__", "if", "else", "not", "~", "%", " ", "\\", "#", "{", "}", "h", "k"]


@settings(max_examples=300, deadline=None)
@given(rhs=st.lists(st.sampled_from(TOKENS), min_size=1, max_size=25).map("".join))
def test_any_equation_text_gives_a_cell_or_a_located_error(rhs):
    text = SPEC.format(title="t", equation=rhs.replace('"""', "").replace("\\", ""))
    try:
        cell = parse_spec_text(text, "fuzz.toml")
    except SpecError as error:
        assert error.location.path == "fuzz.toml"
        assert error.location.line >= 1 and error.location.column >= 1
        assert str(error).startswith(f"fuzz.toml:{error.location.line}:")
    else:
        assert cell.equations[-1].target == "h"
