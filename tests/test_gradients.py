"""Generated backward against numeric derivatives of the generated forward, for every cell."""

import numpy
import pytest

from conftest import ARTICLE_CELLS, generated
from verify.gradcheck import Sizes, check, make_problem, numeric


@pytest.mark.parametrize("name", ARTICLE_CELLS)
def test_backward_matches_central_differences_through_a_sequence(name):
    problem = make_problem(generated(name), Sizes(T=4, B=3, M=3, D=5), seed=7)
    result = check(problem, "central")
    for c in result.checks:
        assert c.normwise_rel_err <= 1e-7, f"{name} {c.wrt}: {c.normwise_rel_err:.2e}"
    # every parameter, the input and each initial state are covered
    assert {c.wrt for c in result.checks} == set(problem.arrays)
    assert {"x", "state0.h", "state0.c"} <= set(problem.arrays)


@pytest.mark.parametrize("name", ARTICLE_CELLS)
def test_backward_matches_central_differences_computed_here(name):
    """The same property, with the finite differences written out in the test itself."""
    module = generated(name)
    problem = make_problem(module, Sizes(T=3, B=2, M=4, D=3), seed=11)
    analytic = problem.gradient(problem.arrays)
    for key in ("W_i", "U_o", "b_c", "x", "state0.c"):
        base = problem.arrays[key]
        numeric_grad = numpy.zeros_like(base)
        for index in numpy.ndindex(base.shape):
            h = 1e-5 * max(1.0, abs(base[index]))
            plus, minus = dict(problem.arrays), dict(problem.arrays)
            plus[key] = base.copy()
            plus[key][index] += h
            minus[key] = base.copy()
            minus[key][index] -= h
            numeric_grad[index] = (problem.loss(plus) - problem.loss(minus)) / (2 * h)
        error = numpy.linalg.norm(analytic[key] - numeric_grad) / numpy.linalg.norm(numeric_grad)
        assert error <= 1e-7, f"{name} {key}: analytic {analytic[key]} numeric {numeric_grad}"


def test_only_final_state_gradients_when_dy_is_none():
    module = generated("lstm")
    problem = make_problem(module, Sizes(T=3, B=2, M=3, D=4), seed=3)
    params, x, state0 = problem.split(problem.arrays)
    _, _, cache = module.forward(params, x, state0)
    weights = {"c": problem.weights_state["c"]}
    grads, _, _ = module.backward(params, cache, None, weights)

    def loss(arrays):
        p, xs, s0 = problem.split(arrays)
        return numpy.sum(weights["c"] * module.forward(p, xs, s0)[1]["c"])

    expected = numeric.complex_step(loss, problem.arrays, "U_f")
    numpy.testing.assert_allclose(grads["U_f"], expected, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("name", ["lstm", "lstmp"])
def test_a_missing_initial_state_means_zeros(name):
    module = generated(name)
    rng = numpy.random.default_rng(3)
    params = module.init_params(3, 4, rng=rng, **({"proj_size": 2} if name == "lstmp" else {}))
    xs = rng.standard_normal((5, 2, 3))
    zeros = module.zero_state(params, 2, numpy.float64)
    y_zeros, state_zeros, _ = module.forward(params, xs, zeros)
    for state0 in (None, {}, {"h": zeros["h"]}):
        y, state, _ = module.forward(params, xs, state0)
        numpy.testing.assert_array_equal(y, y_zeros)
        for s in module.STATE:
            numpy.testing.assert_array_equal(state[s], state_zeros[s])
    h0 = {"h": rng.standard_normal(zeros["h"].shape)}
    assert not numpy.allclose(module.forward(params, xs, h0)[0], y_zeros)  # h0 is read


@pytest.mark.parametrize("name", ["lstm", "peephole", "gru", "lstmp"])
def test_partial_derivatives_computed_block_by_block_give_the_same_gradients(name, monkeypatch,
                                                                              tmp_path):
    """The committed modules run these small problems in one block of steps; with blocks of two
    steps (and a shorter last one) every block boundary is crossed and must change nothing."""
    from derive.io import pipeline
    from derive.io.writer import write_all
    from verify.targets import import_file

    artifact = pipeline.module_artifact(pipeline.derivation_of(pipeline.CELLS / f"{name}.toml"),
                                        tmp_path)
    write_all([artifact])
    blocked = import_file(artifact.path)
    # read at call time: 2 steps of B=3, D=4 a block
    monkeypatch.setattr(blocked, "BLOCK_VALUES", 2 * 3 * 4)
    sizes = Sizes(T=5, B=3, M=3, D=4)
    problem = make_problem(blocked, sizes, seed=11)
    for method in ("central", "steps"):
        result = check(problem, method)
        assert result.passed, (method, [(c.wrt, c.normwise_rel_err) for c in result.checks])
    whole = make_problem(generated(name), sizes, seed=11)
    one, many = whole.gradient(whole.arrays), problem.gradient(problem.arrays)
    for k in one:
        numpy.testing.assert_allclose(many[k], one[k], rtol=1e-12, atol=1e-14)
