"""Properties across cells, sizes, seeds and input scales (hypothesis), and the article's claims."""

import numpy
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import ALL_CELLS, generated
from derive.spec.reader import parse_spec
from derive.io import pipeline
from verify import numeric
from verify.gradcheck import Sizes, check, make_problem, normwise_error
from verify.reference import reference_forward

CELLS = st.sampled_from(ALL_CELLS)
SIZES = st.builds(Sizes, T=st.integers(1, 4), B=st.integers(1, 3), M=st.integers(1, 4),
                  D=st.integers(1, 4))
SCALES = st.sampled_from([0.01, 0.3, 1.0, 3.0, 10.0])
SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(name=CELLS, sizes=SIZES, seed=st.integers(0, 2**31 - 1), scale=SCALES)
def test_complex_step_agrees_with_backward_everywhere(name, sizes, seed, scale):
    """Relative accuracy where gates are not all saturated; absolute accuracy everywhere. (With
    inputs x10 a small cell saturates completely: every gradient is ~1e-10 and 1 - tanh^2 of it
    is known only to absolute accuracy eps, as hypothesis found for gru and cifg.)"""
    problem = make_problem(generated(name), sizes, seed, input_scale=scale)
    if scale <= 3:
        result = check(problem, "complex")
        worst = max(result.checks, key=lambda c: c.normwise_rel_err)
        assert result.passed, f"{worst.wrt}: {worst.normwise_rel_err:.2e}"
    analytic = problem.gradient(problem.arrays)
    for name_, value in problem.arrays.items():
        expected = numeric.complex_step(problem.loss, problem.arrays, name_)
        assert numpy.max(numpy.abs(analytic[name_] - expected)) <= 1e-12, name_


@settings(max_examples=10, deadline=None)
@given(name=CELLS, seed=st.integers(0, 2**31 - 1), scale=SCALES)
def test_forward_agrees_with_sympy_evaluating_the_spec(name, seed, scale):
    cell = parse_spec(pipeline.CELLS / f"{name}.toml")
    module = generated(name)
    problem = make_problem(module, Sizes(T=2, B=2, M=3, D=2), seed, input_scale=scale)
    params, x, state0 = problem.split(problem.arrays)
    y, state_T, _ = module.forward(params, x, state0)
    want_y, want_state = reference_forward(cell, params, x, state0)
    assert normwise_error(y, want_y) <= 1e-13
    for s in module.STATE:
        assert normwise_error(state_T[s], want_state[s]) <= 1e-13


@SETTINGS
@given(name=CELLS, sizes=SIZES, seed=st.integers(0, 2**31 - 1))
def test_sequence_backward_equals_step_backward_loop(name, sizes, seed):
    """backward() is step_backward in a reversed loop, summing parameter gradients."""
    module = generated(name)
    problem = make_problem(module, sizes, seed)
    params, x, state0 = problem.split(problem.arrays)
    _, _, cache = module.forward(params, x, state0)
    grads, dx, d_state = module.backward(params, cache, problem.weights_y, problem.weights_state)
    state, step_caches = state0, []
    for t in range(sizes.T):
        state, step_cache = module.step_forward(params, x[t], state)
        step_caches.append(step_cache)
    d = {s: problem.weights_state[s].copy() for s in module.STATE}
    total = {k: 0.0 for k in params}
    for t in reversed(range(sizes.T)):
        d[module.OUTPUT] = d[module.OUTPUT] + problem.weights_y[t]
        g, dx_t, d = module.step_backward(params, step_caches[t], d)
        numpy.testing.assert_allclose(dx[t], dx_t, rtol=1e-12, atol=1e-15)
        total = {k: total[k] + g[k] for k in params}
    for k in params:
        numpy.testing.assert_allclose(grads[k], total[k], rtol=1e-12, atol=1e-15)


# -- the article's claims ------------------------------------------------------------------------


def saturated(name, biases, T=4, B=2, M=3, D=5, seed=0):
    module = generated(name)
    rng = numpy.random.default_rng(seed)
    params = module.init_params(M, D, rng=rng)
    for key, value in biases.items():
        params[key] = numpy.full(D, value)
    x = rng.standard_normal((T, B, M))
    state0 = {"h": rng.standard_normal((B, D)), "c": rng.standard_normal((B, D))}
    return module, params, x, state0


def test_forget_gate_open_and_input_gate_shut_copies_the_cell():
    module, params, x, state0 = saturated("lstm", {"b_f": 60.0, "b_i": -60.0})
    _, state, cache = module.forward(params, x, state0)
    numpy.testing.assert_array_equal(state["c"], state0["c"])
    for f, i in zip(cache["kept"]["f"], cache["kept"]["i"]):
        numpy.testing.assert_array_equal(f, 1.0)
        numpy.testing.assert_array_equal(i, 0.0)


def test_forget_gate_shut_and_input_gate_open_overwrites_with_the_candidate():
    module, params, x, state0 = saturated("lstm", {"b_f": -60.0, "b_i": 60.0})
    _, state, cache = module.forward(params, x, state0)
    numpy.testing.assert_array_equal(state["c"], cache["kept"]["c_tilde"][-1])


def test_without_a_forget_gate_the_cell_keeps_growing_under_constant_drive():
    module, params, _, _ = saturated("nfg", {"b_i": 2.0, "b_c": 2.0})
    x = numpy.full((200, 2, 3), 0.5)
    y, state, cache = module.forward(params, x)
    c = numpy.array(cache["kept"]["c"])  # c_1 .. c_T
    assert numpy.all(numpy.diff(c, axis=0) > 0)  # strictly increasing, every unit
    assert numpy.all(state["c"] > 50.0)  # and without bound: ~ T * i * c_tilde
    lstm, lparams, _, _ = saturated("lstm", {"b_i": 2.0, "b_c": 2.0})
    _, lstate, _ = lstm.forward(lparams, x)
    assert numpy.all(numpy.abs(lstate["c"]) < 50.0)  # with a forget gate it stays bounded


def test_coupled_gates_forget_exactly_what_they_let_in():
    module, params, x, state0 = saturated("cifg", {})
    _, _, cache = module.forward(params, x, state0)
    for f, i in zip(cache["kept"]["f"], cache["kept"]["i"]):
        numpy.testing.assert_array_equal(f, 1 - i)
