"""Bad specs get one located error (file:line:col, the line, a caret), exit 2, and no file."""

import pytest

from derive.__main__ import main

TEMPLATE = '''name = "bad"
title = "a cell with a mistake"
sizes = { M = "input_size", D = "hidden_size" }
input = { x = "M" }
state = { h = "D", c = "D" }
output = "h"
equations = """
i = sigmoid(W_i @ x + U_i @ h_prev + b_i)
c = c_prev + i
h = tanh(c)
"""

[params]
W_i = ["D", "M"]
U_i = ["D", "D"]
b_i = ["D"]
'''
EQUATION_LINE = {k + 1: line for k, line in enumerate(TEMPLATE.splitlines())}


def codegen(write_spec, tmp_path, capsys, text):
    spec = write_spec(text)
    out = tmp_path / "out"
    code = main(["codegen", str(spec), "--out", str(out)])
    err = capsys.readouterr().err
    return spec, out, code, err


# (what is wrong, how to make it from TEMPLATE, the message, line, column)
CASES = [
    ("syntax error", ("c = c_prev + i", "c = c_prev + * i"), "syntax error", 9, 14),
    ("unknown function", ("h = tanh(c)", "h = relu(c)"), "unknown function 'relu'", 10, 5),
    ("undefined name", ("c = c_prev + i", "c = c_prev + j"), "undefined name 'j'", 9, 14),
    ("use before definition", ("c = c_prev + i", "c = c_prev + i * h"),
     "'h' is used before its definition; the previous step's value is 'h_prev'", 9, 18),
    ("cycle", ("i = sigmoid(W_i @ x + U_i @ h_prev + b_i)", "i = sigmoid(W_i @ x + b_i) * c"),
     "'c' is used before its definition", 8, 30),
    ("matrix on a vector of the wrong size", ("U_i @ h_prev", "W_i @ h_prev"),
     "size mismatch: W_i is a DxM matrix applied to a D-vector", 8, 23),
    ("elementwise size mismatch", ("c = c_prev + i", "c = c_prev + x"),
     "size mismatch: a D-vector + a M-vector", 9, 5),
    ("duplicate definition", ("h = tanh(c)", "h = tanh(c)\nh = c"), "'h' is defined twice", 11, 1),
    ("redefined parameter", ("h = tanh(c)", "h = tanh(c)\nb_i = c"),
     "'b_i' is a declared input or parameter", 11, 1),
    ("attribute access", ("h = tanh(c)", "h = c.real"), "attribute access is not allowed", 10, 5),
    ("subscript", ("h = tanh(c)", "h = c[0]"), "a subscript is not allowed", 10, 5),
    ("lambda", ("h = tanh(c)", "h = (lambda: c)"), "a lambda is not allowed", 10, 6),
    ("comprehension", ("h = tanh(c)", "h = [v for v in c]"), "a comprehension is not allowed", 10, 5),
    ("string", ("h = tanh(c)", "h = 'c'"), "a string is not allowed", 10, 5),
    ("call outside the whitelist", ("h = tanh(c)", "h = open(c)"), "unknown function 'open'", 10, 5),
    ("dunder name", ("h = tanh(c)", "h = __class__"), "names with '__' are not allowed", 10, 5),
    ("huge exponent", ("h = tanh(c)", "h = c ** 1000"), "exponents must be integers", 10, 10),
    ("state never updated", ('state = { h = "D", c = "D" }', 'state = { h = "D", c = "D", n = "D" }'),
     "state 'n' is never updated", 5, 29),
    ("TOML error", ('output = "h"', 'output = "h'), "TOML error", 6, 12),
    ("unknown dimension", ('b_i = ["D"]', 'b_i = ["K"]'), "unknown dimension 'K'", 16, 1),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_bad_spec_is_refused_with_a_located_message(case, write_spec, tmp_path, capsys):
    _, (old, new), message, line, column = case
    assert old in TEMPLATE
    spec, out, code, err = codegen(write_spec, tmp_path, capsys, TEMPLATE.replace(old, new, 1))
    first, source_line, caret = err.splitlines()[:3]
    assert code == 2
    assert first.startswith(f"{spec}:{line}:{column}: error: "), first
    assert message in first
    assert source_line.strip() == spec.read_text().splitlines()[line - 1].strip()
    assert caret.index("^") - 4 == column - 1  # the caret sits under the column
    assert "Traceback" not in err
    assert not out.exists()


def test_the_template_itself_is_fine(write_spec, tmp_path, capsys):
    _, out, code, err = codegen(write_spec, tmp_path, capsys, TEMPLATE)
    assert code == 0, err
    assert (out / "bad.py").exists()


def test_unused_parameter_is_a_warning_not_an_error(write_spec, tmp_path, capsys):
    text = TEMPLATE.replace('b_i = ["D"]', 'b_i = ["D"]\nV_unused = ["D"]')
    spec, out, code, err = codegen(write_spec, tmp_path, capsys, text)
    assert code == 0
    assert f"{spec}: warning: unused parameters: V_unused" in err
    assert (out / "bad.py").exists()


def test_missing_spec_file_is_a_clear_error(tmp_path, capsys):
    code = main(["show", str(tmp_path / "nope.toml")])
    assert code == 2
    assert "no built-in cell or spec file named" in capsys.readouterr().err
