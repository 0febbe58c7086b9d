"""Layouts and converters of derive/frameworks (numpy only: no framework is imported here).

The layout facts themselves are checked against the real frameworks in test_against.py; these
tests check the converters' own promises: round trips, errors that name the expected shapes.
"""

import numpy
import pytest

from conftest import generated

from derive.frameworks import LAYOUTS, from_framework, layout_of, to_framework
from derive.frameworks.layout import LayoutError, grads_from_framework, swapped, to_framework as raw

ROWS = sorted(LAYOUTS)


def _params(cell: str, seed: int = 0) -> dict:
    module = generated(cell)
    extra = {"proj_size": 2} if "P" in module.SIZES else {}
    params = module.init_params(3, 4, rng=numpy.random.default_rng(seed), **extra)
    return {k: v + numpy.random.default_rng(seed + 1).standard_normal(v.shape)
            for k, v in params.items()}


def _canonical(layout, params: dict) -> dict:
    """Zero every parameter that shares a block with an earlier one (Keras's one Cho-form bias
    holds b_i* + b_h*): the form in which gatecalc -> framework -> gatecalc can be exact."""
    out = dict(params)
    for array in layout.arrays:
        for block in array.blocks:
            for p in block.params[1:]:
                out[p] = numpy.zeros_like(out[p])
    return out


@pytest.mark.parametrize("framework,cell", ROWS)
def test_gatecalc_to_framework_and_back_is_bit_exact(framework, cell):
    layout = layout_of(framework, cell)
    params = _canonical(layout, _params(cell))
    back = from_framework(framework, cell, to_framework(framework, cell, params))
    assert list(back) == list(params)
    for name in params:
        assert back[name].dtype == params[name].dtype
        numpy.testing.assert_array_equal(back[name], params[name], err_msg=name)


@pytest.mark.parametrize("framework,cell", ROWS)
def test_every_parameter_is_in_exactly_the_framework_arrays_the_layout_names(framework, cell):
    """Each parameter moves only its own block: a marked parameter shows up where the layout
    says, transposed for column layouts, and nowhere else."""
    layout = layout_of(framework, cell)
    zeros = {k: numpy.zeros_like(v) for k, v in _params(cell).items()}
    for name, value in zeros.items():
        marked = dict(zeros, **{name: numpy.arange(1, value.size + 1.0).reshape(value.shape)})
        arrays = raw(layout, marked)
        holders = [a.name for a in layout.arrays if numpy.any(arrays[a.name])]
        first = next(a.name for a in layout.arrays for b in a.blocks if name in b.params)
        assert holders == [first], (name, holders)


def test_torch_lstm_rows_are_i_f_g_o_and_the_two_biases_are_summed():
    params = _params("lstm")
    state = to_framework("torch", "lstm", params)
    D = 4
    numpy.testing.assert_array_equal(state["weight_ih_l0"][D:2 * D], params["W_f"])
    numpy.testing.assert_array_equal(state["weight_hh_l0"][2 * D:3 * D], params["U_c"])
    assert not numpy.any(state["bias_hh_l0"])
    state["bias_hh_l0"] = numpy.arange(4 * D, dtype=float)
    back = from_framework("torch", "lstm", state)
    numpy.testing.assert_array_equal(back["b_o"], params["b_o"] + numpy.arange(3 * D, 4 * D))


def test_keras_kernels_are_transposed_columns_z_r_h():
    params = _params("gru")
    kernel, recurrent, bias = to_framework("keras", "gru", params)
    assert kernel.shape == (3, 12) and recurrent.shape == (4, 12) and bias.shape == (2, 12)
    numpy.testing.assert_array_equal(kernel[:, 4:8], params["W_r"].T)
    numpy.testing.assert_array_equal(bias[1, 8:], params["b_hn"])


def test_onnx_rows_are_i_o_f_c_with_one_leading_direction_axis():
    params = _params("peephole")
    init = to_framework("onnx", "peephole", params)
    assert init["W"].shape == (1, 16, 3) and init["B"].shape == (1, 32)
    assert init["P"].shape == (1, 12)
    numpy.testing.assert_array_equal(init["W"][0, 4:8], params["W_o"])
    numpy.testing.assert_array_equal(init["P"][0, 8:], params["V_f"])


def test_flax_params_nest_per_dense_layer():
    params = _params("lstm")
    nested = to_framework("flax", "lstm", params)["params"]
    numpy.testing.assert_array_equal(nested["hg"]["kernel"], params["U_c"].T)
    assert "bias" not in nested["ii"]


def test_a_wrong_shape_is_an_error_naming_the_expected_shapes_and_gate_order():
    state = to_framework("torch", "lstm", _params("lstm"))
    state["weight_hh_l0"] = state["weight_hh_l0"][:, :3]
    with pytest.raises(LayoutError) as caught:
        from_framework("torch", "lstm", state)
    message = str(caught.value)
    assert "weight_hh_l0" in message and "(4D, D) = (16, 4)" in message
    assert "i, f, g, o" in message and "(16, 3)" in message


def test_a_missing_array_is_an_error_listing_every_expected_array():
    init = to_framework("onnx", "lstm", _params("lstm"))
    del init["R"]
    with pytest.raises(LayoutError, match=r"R \(1, 4D, D\) \[i, o, f, c\]"):
        from_framework("onnx", "lstm", init)


def test_a_keras_weights_list_of_the_wrong_length_names_the_layers_weights():
    weights = to_framework("keras", "lstm", _params("lstm"))
    with pytest.raises(LayoutError, match="expected 3 weights.*kernel.*recurrent_kernel.*bias"):
        from_framework("keras", "lstm", weights[:2])


def test_an_unknown_row_names_what_exists():
    with pytest.raises(LayoutError, match="keras has no layer that computes 'peephole'"):
        layout_of("keras", "peephole")


def test_gradients_come_back_from_each_parameters_first_block():
    """A framework's gradient w.r.t. bias_ih is the cell's w.r.t. b (bias_hh is written as
    zeros); Keras's one Cho-form bias gradient is both b_iz's and b_hz's."""
    layout = layout_of("keras", "gru_cho")
    arrays = raw(layout, _params("gru_cho"))
    grads = grads_from_framework(layout, arrays)
    numpy.testing.assert_array_equal(grads["b_iz"], grads["b_hz"])
    numpy.testing.assert_array_equal(grads["b_iz"], arrays["bias"][:4])


def test_swapped_exchanges_two_blocks_and_nothing_else():
    layout = layout_of("torch", "gru")
    arrays = raw(layout, _params("gru"))
    bad = swapped(layout, arrays, "weight_ih_l0", "r", "n")
    numpy.testing.assert_array_equal(bad["weight_ih_l0"][:4], arrays["weight_ih_l0"][8:])
    numpy.testing.assert_array_equal(bad["weight_ih_l0"][4:8], arrays["weight_ih_l0"][4:8])
    numpy.testing.assert_array_equal(bad["weight_hh_l0"], arrays["weight_hh_l0"])
