"""Cells the project has never seen, written only as equations in this file, come out right:
the gradients can only have come from the derivation."""

import numpy
import pytest

from derive.io import pipeline
from derive.io.writer import write_all
from verify.gradcheck import Sizes, check, make_problem, reference_sizes
from verify.targets import import_file

MINIMAL_GATED_UNIT = '''
name = "mgu_test"
title = "Minimal gated unit with a reset applied before a linear map"
sizes = { M = "input_size", D = "hidden_size" }
input = { x = "M" }
state = { h = "D" }
output = "h"
equations = """
f = sigmoid(W_f @ x + U_f @ h_prev + b_f)
m = f * h_prev
n = tanh(W_n @ x + U_n @ m + b_n)
h = (1 - f) * h_prev + f * n
"""
[params]
W_f = ["D", "M"]
U_f = ["D", "D"]
b_f = ["D"]
W_n = ["D", "M"]
U_n = ["D", "D"]
b_n = ["D"]
'''

ODD_ACTIVATIONS = '''
name = "odd_test"
title = "exp, log, powers and division, with two states of different sizes"
sizes = { M = "input_size", D = "hidden_size", K = "memory_size" }
input = { x = "M" }
state = { h = "D", k = "K" }
output = "h"
equations = """
g = exp(-(W_g @ x + b_g) ** 2 / 2)
k = 0.5 * k_prev + log(1 + sigmoid(A_k @ h_prev))
r = W_r @ k
x_proj = W_p @ x
h = g * h_prev / (1 + h_prev ** 2) + tanh(r) ** 3 - V * x_proj
"""
[params]
W_g = ["D", "M"]
b_g = ["D"]
A_k = ["K", "D"]
W_r = ["D", "K"]
W_p = ["D", "M"]
V = ["D"]
'''

# Exercises the sequence printer's in-place gates: exp alone, sigmoid and tanh sharing one tanh
# over adjacent rows, a gate on a recurrent-only product (s_prev), a log whose derivative needs
# its argument (kept), and a state that is itself a gate (kept in its own array).
GATES_EVERYWHERE = '''
name = "gates_test"
title = "Gates of every kind the sequence printer computes in place"
sizes = { M = "input_size", D = "hidden_size" }
input = { x = "M" }
state = { h = "D", s = "D" }
output = "h"
equations = """
e = exp(W_e @ x + U_e @ h_prev + b_e)
g = sigmoid(W_g @ x + U_g @ h_prev + b_g)
z = tanh(W_z @ x + U_z @ h_prev)
r = sigmoid(V_r @ s_prev)
l = log(e + 1)
s = tanh(V_s @ s_prev + b_s)
h = g * z + (1 - g) * l * h_prev + r * s
"""
[params]
W_e = ["D", "M"]
U_e = ["D", "D"]
b_e = ["D"]
W_g = ["D", "M"]
U_g = ["D", "D"]
b_g = ["D"]
W_z = ["D", "M"]
U_z = ["D", "D"]
V_r = ["D", "D"]
V_s = ["D", "D"]
b_s = ["D"]
'''


def sigma(a):
    return 1 / (1 + numpy.exp(-a))


def mgu_reference(p, xs, h):
    ys = []
    for x in xs:
        f = sigma(x @ p["W_f"].T + h @ p["U_f"].T + p["b_f"])
        n = numpy.tanh(x @ p["W_n"].T + (f * h) @ p["U_n"].T + p["b_n"])
        h = (1 - f) * h + f * n
        ys.append(h)
    return numpy.array(ys)


def build_with_cell(write_spec, tmp_path, text):
    """The generated module of a spec written here, and the cell it was generated from."""
    derivation = pipeline.derivation_of(write_spec(text))
    artifact = pipeline.module_artifact(derivation, tmp_path / "out")
    write_all([artifact])
    return import_file(artifact.path), derivation.cell


def build(write_spec, tmp_path, text):
    return build_with_cell(write_spec, tmp_path, text)[0]


def test_unseen_cell_forward_matches_numpy_written_here(write_spec, tmp_path):
    module = build(write_spec, tmp_path, MINIMAL_GATED_UNIT)
    rng = numpy.random.default_rng(5)
    params = module.init_params(3, 4, rng=rng)
    xs, h0 = rng.standard_normal((6, 2, 3)), rng.standard_normal((2, 4))
    y, state, _ = module.forward(params, xs, {"h": h0})
    numpy.testing.assert_allclose(y, mgu_reference(params, xs, h0), rtol=1e-12, atol=1e-14)
    numpy.testing.assert_array_equal(state["h"], y[-1])


@pytest.mark.parametrize("text", [MINIMAL_GATED_UNIT, ODD_ACTIVATIONS, GATES_EVERYWHERE],
                         ids=["mgu", "odd", "gates"])
def test_unseen_cell_passes_the_gradient_check(write_spec, tmp_path, text):
    module, cell = build_with_cell(write_spec, tmp_path, text)
    problem = make_problem(module, reference_sizes(Sizes(T=3, B=2, M=3, D=4)), seed=2)
    for method in ("forward", "central", "complex", "steps"):
        result = check(problem, method, cell=cell)
        assert result.passed, [(c.wrt, c.normwise_rel_err) for c in result.checks]
        bound = 1e-7 if method == "central" else 1e-10
        assert max(c.normwise_rel_err for c in result.checks) <= bound


def test_the_gates_cell_takes_every_in_place_path(write_spec, tmp_path):
    """The gradient check above is only evidence for these paths if the code takes them."""
    source = build(write_spec, tmp_path, GATES_EVERYWHERE).__file__
    with open(source, encoding="utf-8") as stream:
        code = stream.read()
    forward = code[code.index("def forward("):code.index("def backward(")]
    assert "numpy.exp(seq_e[t], out=seq_e[t])" in forward  # exp: a run of its own
    assert "numpy.tanh(gates, out=gates)" in forward  # g and z share one tanh
    assert "numpy.multiply(gates, gate_scale, out=gates)" in forward
    assert "gates = seq_r[t]" in forward  # r: recurrent-only, in place, its rows halved
    assert "numpy.concatenate((0.5*V_r, V_s,)).T.copy()" in forward  # row-major
    assert "numpy.matmul(s_prev, stack_s_prev_T, out=maps_s_prev[t])" in forward
    assert "seq_a_l = numpy.empty(" in forward  # log's argument is kept
    assert "s = seq_s[t + 1]" in forward  # the state's own array


def test_unseen_cell_with_a_use_before_definition_is_refused(write_spec):
    from derive.errors import SpecError
    from derive.spec.reader import parse_spec
    swapped = ODD_ACTIVATIONS.replace("x_proj = W_p @ x\n", "").replace(
        "- V * x_proj\n", "- V * x_proj\nx_proj = W_p @ x\n")
    with pytest.raises(SpecError, match="'x_proj' is used before its definition"):
        parse_spec(write_spec(swapped))


# Cell names that the sequence code would otherwise use for its own arrays.
CLASHING_NAMES = '''
name = "clash_test"
title = "Names the generated code also wants"
sizes = { M = "input_size", D = "hidden_size" }
input = { x = "M" }
state = { gates = "D", k = "D" }
output = "gates"
equations = """
start = sigmoid(W_s @ x + U_s @ gates_prev + b_s)
stop = tanh(W_t @ x + U_t @ gates_prev)
block = start * k_prev
k = block + (1 - start) * stop
gates = stop * tanh(k)
"""
[params]
W_s = ["D", "M"]
U_s = ["D", "D"]
b_s = ["D"]
W_t = ["D", "M"]
U_t = ["D", "D"]
gate_scale = ["D"]
'''


def test_cell_names_that_clash_with_generated_arrays_still_check(write_spec, tmp_path):
    text = CLASHING_NAMES.replace("(1 - start) * stop", "(1 - start) * stop * gate_scale")
    module, cell = build_with_cell(write_spec, tmp_path, text)
    problem = make_problem(module, reference_sizes(Sizes(T=3, B=2, M=3, D=4)), seed=4)
    for method in ("forward", "central", "steps"):
        result = check(problem, method, cell=cell)
        assert result.passed, (method, [(c.wrt, c.normwise_rel_err) for c in result.checks])
