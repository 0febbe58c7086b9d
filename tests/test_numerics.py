"""Numerics: extreme pre-activations, float32, long sequences, non-finite values reported."""

import json
import warnings

import numpy
import pytest

from conftest import ALL_CELLS, generated, run
from verify.gradcheck import Sizes, check, make_problem


@pytest.mark.parametrize("dtype", [numpy.float32, numpy.float64])
@pytest.mark.parametrize("name", ALL_CELLS)
def test_huge_pre_activations_give_no_overflow_and_no_nan(name, dtype):
    module = generated(name)
    problem = make_problem(module, Sizes(T=5, B=2, M=3, D=4), seed=0)
    params, x, _ = problem.split(problem.arrays)
    params = {k: (v / numpy.max(numpy.abs(v))).astype(dtype) for k, v in params.items()}
    x = (1e4 * numpy.sign(x)).astype(dtype)  # pre-activations up to |a| ~ 1e4
    with warnings.catch_warnings(), numpy.errstate(all="raise"):
        warnings.simplefilter("error")
        y, state, cache = module.forward(params, x)
        grads, dx, d_state = module.backward(params, cache, numpy.ones_like(y))
    input_maps = [v for k, v in params.items() if v.ndim == 2 and v.shape[1] == x.shape[2]]
    assert max(numpy.abs(x[0] @ w.T).max() for w in input_maps) > 1e3  # really extreme
    for array in [y, dx, *state.values(), *grads.values(), *d_state.values()]:
        assert array.dtype == dtype
        assert numpy.all(numpy.isfinite(array))


@pytest.mark.parametrize("name", ALL_CELLS)
def test_float32_check_passes(name):
    problem = make_problem(generated(name), Sizes(T=5, B=3, M=3, D=4), seed=4, dtype="float32")
    assert all(v.dtype == numpy.float32 for v in problem.arrays.values())
    result = check(problem, "central", "float32")
    assert result.passed, [(c.wrt, c.normwise_rel_err) for c in result.checks]
    assert max(c.normwise_rel_err for c in result.checks) > 1e-9  # really ran in float32


def test_long_sequence_directional_check_passes():
    problem = make_problem(generated("lstm"), Sizes(T=1000, B=2, M=3, D=4), seed=1)
    result = check(problem, "directional")
    assert result.passed, [(c.wrt, c.normwise_rel_err) for c in result.checks]


@pytest.mark.parametrize("name", ALL_CELLS)
def test_complex128_runs_end_to_end_and_is_analytic(name):
    """Complex inputs flow through forward and backward (what the complex step relies on), and
    the complex forward's imaginary part is the directional derivative the backward predicts."""
    module = generated(name)
    problem = make_problem(module, Sizes(T=3, B=2, M=3, D=4), seed=2)
    direction = {k: numpy.random.default_rng(3).standard_normal(v.shape)
                 for k, v in problem.arrays.items()}
    h = 1e-20
    shifted = {k: v + 1j * h * direction[k] for k, v in problem.arrays.items()}
    params, x, state0 = problem.split(shifted)
    y, state_T, cache = module.forward(params, x, state0)
    grads, dx, _ = module.backward(params, cache, numpy.ones_like(y))
    assert y.dtype == dx.dtype == numpy.complex128
    assert all(g.dtype == numpy.complex128 for g in grads.values())
    slope = numpy.imag(problem.loss(shifted)) / h
    g = problem.gradient(problem.arrays)
    predicted = sum(numpy.vdot(direction[k], g[k]).real for k in g)
    assert abs(slope - predicted) <= 1e-10 * max(1.0, abs(predicted))


def test_non_finite_values_are_reported_not_hidden(write_spec, tmp_path):
    spec = write_spec('''
name = "logcell"
sizes = { M = "input_size", D = "hidden_size" }
input = { x = "M" }
state = { h = "D" }
output = "h"
equations = """
h = log(W @ x) + h_prev
"""
[params]
W = ["D", "M"]
''')
    report = tmp_path / "r.json"
    result = run("-m", "verify", "check", str(spec), "--json", str(report))
    assert result.returncode == 1
    assert "NaN or infinity" in result.stdout
    checks = json.loads(report.read_text())["results"][0]["checks"]
    assert any(c["normwise_rel_err"] == "nan" or not c["passed"] for c in checks)


@pytest.mark.parametrize("name", ALL_CELLS)
def test_an_empty_sequence_passes_the_state_and_its_adjoint_through(name):
    module = generated(name)
    problem = make_problem(module, Sizes(T=1, B=2, M=3, D=4), seed=0)
    params, x, state0 = problem.split(problem.arrays)
    empty = x[:0]
    y, state_T, cache = module.forward(params, empty, state0)
    assert y.shape[0] == 0
    for s in module.STATE:
        numpy.testing.assert_array_equal(state_T[s], state0[s])
    grads, dx, d_state0 = module.backward(params, cache, y, problem.weights_state)
    assert dx.shape == empty.shape
    assert all(not numpy.any(g) for g in grads.values())
    for s in module.STATE:
        numpy.testing.assert_array_equal(d_state0[s], problem.weights_state[s])
