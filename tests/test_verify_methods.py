"""The checker's own rules: what runs by default, the lowered blocks, the documented methods."""

import re

from conftest import ROOT, module_of_spec, run, with_backward
from derive.io import pipeline
from verify.faults import block_steps
from verify.gradcheck import DEFAULT_METHODS, METHODS, Sizes, check, make_problem
from verify.targets import import_file


def test_the_short_command_runs_every_method_but_exact():
    result = run("-m", "verify", "check", "cifg")
    assert result.returncode == 0, result.stdout + result.stderr
    ran = re.findall(r"^PASS  cifg  (\w+)  ", result.stdout, re.MULTILINE)
    assert ran == list(DEFAULT_METHODS)
    assert {"central", "complex", "directional", "steps", "determinism", "batch"} <= set(ran)
    assert "exact" not in ran


def test_block_lengths_leave_a_boundary_inside_the_sequence():
    for steps in range(2, 30):
        length = block_steps(steps)
        assert 1 <= length <= 3
        assert length == 1 or (steps % length and length < steps), (steps, length)
    assert (block_steps(4), block_steps(3)) == (3, 2)  # the default T and exact's T


def test_every_check_that_runs_backward_crosses_blocks_and_the_value_is_restored(tmp_path):
    path = tmp_path / "lstm_blocks.py"
    path.write_text((pipeline.GENERATED / "lstm.py").read_text())
    module = import_file(path)
    seen = []
    backward = module.backward

    def spying(*args):
        seen.append(module.BLOCK_VALUES // (3 * 4))  # the steps of a block at B = 3, D = 4
        return backward(*args)

    module.backward = spying
    problem = make_problem(module, Sizes(T=4, B=3, M=3, D=4), seed=0)
    for method in METHODS:
        if method not in ("forward", "exact"):
            seen.clear()
            assert check(problem, method).passed, method
            assert seen and set(seen) == {3}, (method, seen)
    assert module.BLOCK_VALUES == 8192


def test_the_readme_documents_every_method():
    text = (ROOT / "README.md").read_text()
    section = text.split("## Verifying", 1)[1].split("\n## ", 1)[0]
    assert re.findall(r"^\| `(\w+)` \|", section, re.MULTILINE) == list(METHODS)


def test_a_third_richardson_level_cancels_the_fourth_order_term():
    """On exp(20θ) (its derivatives grow 20-fold each) two levels leave an O(h⁴) error above
    the check's 1e-9 and three cancel it to about 4e-13: the table's factors are right."""
    import numpy
    from verify import numeric

    theta = numpy.array([0.1, -0.2])
    f = lambda arrays: float(numpy.sum(numpy.exp(20.0 * arrays["t"])))  # noqa: E731
    exact = 20.0 * numpy.exp(20.0 * theta)
    two = numeric.richardson(f, {"t": theta}, "t")
    three = numeric.richardson(f, {"t": theta}, "t", levels=3)
    assert numpy.max(abs(two - exact) / exact) > 1e-9
    assert numpy.max(abs(three - exact) / exact) < 1e-11


THREE_STATES = '''name = "rnd"
sizes = { M = "input_size", D = "hidden_size" }
input = { x = "M" }
state = { h = "D", s0 = "D", s1 = "D" }
output = "h"
equations = """
g0 = tanh(W_g0 @ x + U_g0 @ h_prev + b_g0)
g1 = sigmoid(W_g1 @ x + U_g1 @ h_prev + V_g1 * s0_prev + b_g1)
m0 = 0.5 * s0_prev + s1_prev**3
m1 = R_1 @ m0
s1 = sigmoid(g0) * s1_prev + s1_prev
s0 = tanh(m0 + s0_prev * m1)
late = tanh(W_late @ x + U_late @ h_prev + V_late * s1 + b_late)
h = tanh(late + h_prev * g1)
"""

[params]
W_g0 = ["D", "M"]
U_g0 = ["D", "D"]
b_g0 = ["D"]
W_g1 = ["D", "M"]
U_g1 = ["D", "D"]
V_g1 = ["D"]
b_g1 = ["D"]
R_1 = ["D", "D"]
W_late = ["D", "M"]
U_late = ["D", "D"]
V_late = ["D"]
b_late = ["D"]
'''


def test_richardson_adds_a_level_where_a_strongly_nonlinear_loss_needs_it(tmp_path):
    """A random cell (a state cubed, grown step after step) whose right gradients two levels
    put 1e-6 off; with the third level they pass, the report says where, and a gradient 0.1%
    off still fails."""
    from verify.report import table

    module, _ = module_of_spec(tmp_path, THREE_STATES)
    result = check(make_problem(module, Sizes(4, 3, 3, 4), 4391), "richardson")
    assert result.passed
    added = [c.wrt for c in result.checks if "romberg" in c.extra]
    assert "R_1" in added and "third (h/4) added" in table([result])

    wrong = with_backward(module, lambda grads, dx, d_state0: (
        {**grads, "R_1": 1.001 * grads["R_1"]}, dx, d_state0))
    result = check(make_problem(wrong, Sizes(4, 3, 3, 4), 4391), "richardson")
    assert [c.wrt for c in result.checks if not c.passed] == ["R_1"]
