"""lstm, gru and lstmp against PyTorch's own nn.LSTM, nn.GRU and nn.LSTM(proj_size=P) with the
same weights: outputs and every gradient, for the oracle and for the generated torch module
(its sequence functions, and its nn.Module under autograd). nn.LSTM adds two biases where
gatecalc's lstm has one: b_i is bias_ih's rows plus bias_hh's, and the gradient of each is b_i's.
"""

import pytest
import sympy

torch = pytest.importorskip("torch", reason="needs the torch extra: pip install -e '.[torch]'")

from derive.ad.blocks import FUNCTIONS  # noqa: E402
from derive.io import pipeline  # noqa: E402
from derive.spec.reader import parse_spec  # noqa: E402
from torch_targets import implementations  # noqa: E402

T, B, M, D, P = 5, 3, 4, 6, 3
GATES = {"lstm": ("i", "f", "c", "o"), "lstmp": ("i", "f", "c", "o"), "gru": ("r", "z", "n")}


def _nn(name):
    torch.manual_seed(0)
    if name == "gru":
        layer = torch.nn.GRU(M, D)
    else:
        layer = torch.nn.LSTM(M, D, proj_size=P if name == "lstmp" else 0)
    return layer.double()


def _params_of(name, layer):
    """gatecalc's parameters holding nn's weights, as fresh leaves."""
    gates = GATES[name]
    w_ih, w_hh = layer.weight_ih_l0.chunk(len(gates)), layer.weight_hh_l0.chunk(len(gates))
    b_ih, b_hh = layer.bias_ih_l0.chunk(len(gates)), layer.bias_hh_l0.chunk(len(gates))
    params = {}
    for k, g in enumerate(gates):
        params[f"W_{g}"], params[f"U_{g}"] = w_ih[k], w_hh[k]
        if name == "gru":
            params[f"b_i{g}"], params[f"b_h{g}"] = b_ih[k], b_hh[k]
        else:
            params[f"b_{g}"] = b_ih[k] + b_hh[k]
    if name == "lstmp":
        params["W_p"] = layer.weight_hr_l0
    return {k: v.detach().clone() for k, v in params.items()}


def _nn_grads_by_gatecalc_name(name, layer):
    """nn's gradients under gatecalc's names; for an lstm bias, both of nn's (they are equal)."""
    gates = GATES[name]
    grads = {}
    for k, g in enumerate(gates):
        grads[f"W_{g}"] = [layer.weight_ih_l0.grad.chunk(len(gates))[k]]
        grads[f"U_{g}"] = [layer.weight_hh_l0.grad.chunk(len(gates))[k]]
        ih, hh = (layer.bias_ih_l0.grad.chunk(len(gates))[k],
                  layer.bias_hh_l0.grad.chunk(len(gates))[k])
        if name == "gru":
            grads[f"b_i{g}"], grads[f"b_h{g}"] = [ih], [hh]
        else:
            grads[f"b_{g}"] = [ih, hh]
    if name == "lstmp":
        grads["W_p"] = [layer.weight_hr_l0.grad]
    return grads


def _state_sizes(name):
    return {"gru": {"h": D}, "lstm": {"h": D, "c": D}, "lstmp": {"h": P, "c": D}}[name]


@pytest.mark.parametrize("name", ["lstm", "gru", "lstmp"])
@pytest.mark.parametrize("implementation", implementations())
def test_same_outputs_and_every_gradient_as_pytorch(name, implementation):
    layer = _nn(name)
    generator = torch.Generator().manual_seed(1)
    sizes = _state_sizes(name)

    def rand(*shape):
        return torch.randn(*shape, generator=generator, dtype=torch.float64)

    x = rand(T, B, M)
    state0 = {s: rand(B, n) for s, n in sizes.items()}
    dy = rand(T, B, sizes["h"])
    d_state_T = {s: rand(B, n) for s, n in sizes.items()}
    # PyTorch
    x_nn = x.clone().requires_grad_(True)
    state_nn = {s: v[None].clone().requires_grad_(True) for s, v in state0.items()}
    hx = state_nn["h"] if name == "gru" else (state_nn["h"], state_nn["c"])
    y_nn, final = layer(x_nn, hx)
    final = {"h": final} if name == "gru" else dict(zip(("h", "c"), final))
    torch.autograd.backward([y_nn] + [final[s] for s in sizes],
                            [dy] + [d_state_T[s][None] for s in sizes])
    # gatecalc
    run = implementation(name)
    y, state_T, grads, dx, d_state0 = run(_params_of(name, layer), x, state0, dy, d_state_T)
    close = dict(rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(y, y_nn.detach(), **close)
    for s in sizes:
        torch.testing.assert_close(state_T[s], final[s].detach()[0], **close)
        torch.testing.assert_close(d_state0[s], state_nn[s].grad[0], **close)
    torch.testing.assert_close(dx, x_nn.grad, **close)
    expected = _nn_grads_by_gatecalc_name(name, layer)
    assert set(grads) == set(expected)
    for k, nn_grads in expected.items():
        for g in nn_grads:
            torch.testing.assert_close(grads[k], g, **close, msg=k)


def _documented(name, symbol):
    """PyTorch's documented equations (nn.LSTM, nn.GRU), per unit, over gatecalc's symbols."""
    s = {n: sympy.Symbol(n) for n in symbol}
    sigmoid, tanh = FUNCTIONS["sigmoid"], FUNCTIONS["tanh"]
    if name == "gru":
        return {
            "r": sigmoid(s["W_r_x"] + s["b_ir"] + s["U_r_h_prev"] + s["b_hr"]),
            "z": sigmoid(s["W_z_x"] + s["b_iz"] + s["U_z_h_prev"] + s["b_hz"]),
            "n": tanh(s["W_n_x"] + s["b_in"] + s["r"] * (s["U_n_h_prev"] + s["b_hn"])),
            "h": (1 - s["z"]) * s["n"] + s["z"] * s["h_prev"],
        }
    gates = {g: s[f"W_{g}_x"] + s[f"U_{g}_h_prev"] + s[f"b_{g}"] for g in "ifco"}
    out = {"i": sigmoid(gates["i"]), "f": sigmoid(gates["f"]), "c_tilde": tanh(gates["c"]),
           "o": sigmoid(gates["o"]),
           "c": s["f"] * s["c_prev"] + s["i"] * s["c_tilde"]}
    if name == "lstmp":
        return {**out, "m": s["o"] * tanh(s["c"]), "h": s["W_p_m"]}
    return {**out, "h": s["o"] * tanh(s["c"])}


@pytest.mark.parametrize("name", ["lstm", "gru", "lstmp"])
def test_the_spec_is_pytorchs_documented_equations_exactly(name):
    """Symbolically, equation by equation (same targets, same order, difference 0), and each
    linear map is the product PyTorch's equation names."""
    cell = parse_spec(pipeline.resolve_spec(name))
    names = {str(sym) for eq in cell.equations for sym in eq.expr.free_symbols}
    documented = _documented(name, names | {"h_prev", "c_prev"})
    assert [eq.target for eq in cell.equations] == list(documented)
    for eq in cell.equations:
        assert sympy.simplify(eq.expr - documented[eq.target]) == 0, eq.target
    maps = {str(m.symbol): (m.matrix, m.operand) for m in cell.linear_maps}
    for sym, (matrix, operand) in maps.items():
        assert sym == f"{matrix}_{operand}" and operand in ("x", "h_prev", "m")
