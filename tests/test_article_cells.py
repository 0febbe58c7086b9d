"""The generated forward of the article's four cells against plain NumPy written here, from the
article's equations (and its stacked form W ∈ R^{4D×(M+D)} for the standard cell)."""

import numpy
import pytest

from conftest import ARTICLE_CELLS, generated


def sigma(a):
    return 1.0 / (1.0 + numpy.exp(-a))


def gate(p, g, x, h):
    return x @ p[f"W_{g}"].T + h @ p[f"U_{g}"].T + p[f"b_{g}"]


def article_step(name, p, x, h, c):
    """One step, written from the article's equations for each variant."""
    c_tilde = numpy.tanh(gate(p, "c", x, h))
    if name == "peephole":
        i = sigma(gate(p, "i", x, h) + p["V_i"] * c)
        f = sigma(gate(p, "f", x, h) + p["V_f"] * c)
        c_new = f * c + i * c_tilde
        o = sigma(gate(p, "o", x, h) + p["V_o"] * c_new)  # the output gate peeks at the new c
        return o * numpy.tanh(c_new), c_new
    i = sigma(gate(p, "i", x, h))
    o = sigma(gate(p, "o", x, h))
    if name == "lstm":
        f = sigma(gate(p, "f", x, h))
        c_new = f * c + i * c_tilde
    elif name == "nfg":
        c_new = c + i * c_tilde
    elif name == "cifg":
        c_new = (1 - i) * c + i * c_tilde
    return o * numpy.tanh(c_new), c_new


def article_forward(name, p, xs, h, c):
    ys = []
    for x in xs:
        h, c = article_step(name, p, x, h, c)
        ys.append(h)
    return numpy.array(ys), h, c


def stacked_forward(p, xs, h, c):
    """The article's stacked form: [c~; o; i; f] = [tanh; σ; σ; σ](W [x; h] + b)."""
    D = h.shape[1]
    W = numpy.concatenate([numpy.concatenate([p[f"W_{g}"], p[f"U_{g}"]], axis=1) for g in "coif"])
    b = numpy.concatenate([p[f"b_{g}"] for g in "coif"])
    assert W.shape == (4 * D, xs.shape[2] + D)
    ys = []
    for x in xs:
        z = numpy.concatenate([x, h], axis=1) @ W.T + b
        c_tilde, o, i, f = numpy.tanh(z[:, :D]), sigma(z[:, D:2 * D]), sigma(z[:, 2 * D:3 * D]), sigma(z[:, 3 * D:])
        c = f * c + i * c_tilde
        h = o * numpy.tanh(c)
        ys.append(h)
    return numpy.array(ys), h, c


def inputs(module, seed=0, T=5, B=3, M=4, D=6):
    rng = numpy.random.default_rng(seed)
    params = module.init_params(M, D, rng=rng)
    xs = rng.standard_normal((T, B, M))
    h0, c0 = rng.standard_normal((B, D)), rng.standard_normal((B, D))
    return params, xs, h0, c0


@pytest.mark.parametrize("name", ARTICLE_CELLS)
def test_generated_forward_matches_the_article_equations(name):
    module = generated(name)
    params, xs, h0, c0 = inputs(module)
    y, state, _ = module.forward(params, xs, {"h": h0, "c": c0})
    want_y, want_h, want_c = article_forward(name, params, xs, h0, c0)
    numpy.testing.assert_allclose(y, want_y, rtol=1e-12, atol=1e-14)
    numpy.testing.assert_allclose(state["h"], want_h, rtol=1e-12, atol=1e-14)
    numpy.testing.assert_allclose(state["c"], want_c, rtol=1e-12, atol=1e-14)


def test_standard_cell_matches_the_stacked_form():
    module = generated("lstm")
    params, xs, h0, c0 = inputs(module, seed=1)
    y, state, _ = module.forward(params, xs, {"h": h0, "c": c0})
    want_y, _, want_c = stacked_forward(params, xs, h0, c0)
    numpy.testing.assert_allclose(y, want_y, rtol=1e-12, atol=1e-14)
    numpy.testing.assert_allclose(state["c"], want_c, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("name", ARTICLE_CELLS)
def test_zero_initial_state_is_the_default(name):
    module = generated(name)
    params, xs, _, _ = inputs(module)
    zeros = numpy.zeros((xs.shape[1], 6))
    y_default, _, _ = module.forward(params, xs)
    y_zeros, _, _ = module.forward(params, xs, {"h": zeros, "c": zeros})
    numpy.testing.assert_array_equal(y_default, y_zeros)
    want, _, _ = article_forward(name, params, xs, zeros, zeros)
    numpy.testing.assert_allclose(y_default, want, rtol=1e-12, atol=1e-14)


def test_forget_gate_bias_starts_at_one_as_the_article_advises():
    params = generated("lstm").init_params(3, 5, rng=numpy.random.default_rng(0))
    numpy.testing.assert_array_equal(params["b_f"], numpy.ones(5))
    assert params["W_i"].shape == (5, 3) and params["U_i"].shape == (5, 5)
    assert not numpy.allclose(params["b_i"], 1.0)


def test_cifg_and_nfg_have_no_forget_gate_parameters():
    for name in ("cifg", "nfg"):
        assert not any(k.endswith("_f") for k in generated(name).PARAMS)
    assert {"V_i", "V_f", "V_o"} <= set(generated("peephole").PARAMS)
