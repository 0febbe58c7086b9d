"""The independent references in verify/reference.py, against each other and against the code."""

import pytest

from conftest import generated
from derive.io import pipeline
from derive.spec.reader import parse_spec
from verify.gradcheck import Sizes, make_problem
from verify.reference import exact_gradient, whole_tree_derivative


# The whole tree repeats every earlier step, so it is kept small (gru at T=2 takes minutes).
@pytest.mark.parametrize("name, wrt, index, steps", [("nfg", "b_i", (0,), 2),
                                                     ("cifg", "state0.c", (0, 0), 2),
                                                     ("lstm", "U_f", (0, 0), 1)])
def test_forward_mode_derivative_equals_sympy_diff_of_the_whole_unrolled_loss(name, wrt, index,
                                                                              steps):
    """exact_gradient (forward mode, one sympy.diff per equation) is the literal whole-tree
    sympy.diff of the unrolled loss, computed faster; and both match the generated backward."""
    cell = parse_spec(pipeline.CELLS / f"{name}.toml")
    problem = make_problem(generated(name), Sizes(T=steps, B=1, M=1, D=1), seed=4)
    fast = exact_gradient(cell, problem.arrays, problem.weights_y, problem.weights_state, wrt)
    literal = whole_tree_derivative(cell, problem.arrays, problem.weights_y,
                                    problem.weights_state, wrt, index)
    assert fast[index] == pytest.approx(literal, rel=1e-14, abs=1e-300)
    analytic = problem.gradient(problem.arrays)[wrt]
    assert analytic[index] == pytest.approx(literal, rel=1e-10)
    assert literal != 0.0
