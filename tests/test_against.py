"""Every row of the layout table against the real framework (the interop extra), and the ways a
wrong layout or a missing framework is reported."""

import importlib
import json
import os

import numpy
import pytest

from derive.frameworks import LAYOUTS, from_framework, layout_of, to_framework

from verify.__main__ import main
from verify.gradcheck import Sizes

os.environ.setdefault("KERAS_BACKEND", "torch")  # no TensorFlow needed
EXTRA = "needs the interop extra: pip install -e '.[interop]'"
NEEDS = {"torch": ("torch",), "keras": ("keras", "torch"), "onnx": ("onnx", "onnxruntime"),
         "flax": ("flax", "jax")}
SIZES = Sizes(T=4, B=3, M=3, D=4)


def needs(framework: str):
    for module in NEEDS[framework]:
        pytest.importorskip(module, reason=EXTRA)


def _run(framework, cell, swap=None, sizes=SIZES):
    from verify import against
    needs(framework)
    return against.against(layout_of(framework, cell), sizes, seed=3, swap=swap)


@pytest.mark.parametrize("framework,cell", sorted(LAYOUTS))
def test_the_framework_layer_computes_the_cell(framework, cell):
    run = _run(framework, cell)
    result = run.result
    bound = {"float64": 1e-10, "float32": 1e-5}[result.dtype]
    assert result.dtype == ("float32" if framework == "onnx" or cell == "gru_cho" and
                            framework == "keras" else "float64")
    names = [c.wrt for c in result.checks]
    assert names[:1] == ["y"] and all(f"state_T.{s}" in names for s in run.layout.state)
    if framework != "onnx":  # every gradient: each parameter, the input, each initial state
        module = importlib.import_module(f"derive.generated.{cell}")
        assert set(module.PARAMS) | {"x"} | {f"state0.{s}" for s in module.STATE} <= set(names)
    for c in result.checks:
        assert c.normwise_rel_err <= bound, (c.wrt, c.normwise_rel_err)
    assert result.passed


NEGATIVE = {"torch": ("lstm", "weight_ih_l0", "i", "f"), "keras": ("gru", "kernel", "z", "r"),
            "onnx": ("peephole", "P", "i", "o")}  # flax: one gate per array, see the next test


@pytest.mark.parametrize("framework", sorted(NEGATIVE))
def test_a_swapped_gate_block_is_reported_as_a_failure_naming_the_array(framework):
    from verify.against import Swap, as_json
    cell, array, a, b = NEGATIVE[framework]
    run = _run(framework, cell, Swap(array, a, b))
    assert not run.result.passed
    failed = {c.wrt for c in run.result.checks if not c.passed}
    assert "y" in failed
    if framework != "onnx":  # the gradients name the framework array they came from
        entries = as_json([run])["results"][0]["checks"]
        named = [c["detail"]["framework"] for c in entries
                 if not c["passed"] and "framework" in c.get("detail", {})]
        assert any(n.startswith(array + " ") for n in named), named


def test_flax_with_two_gate_kernels_exchanged_is_reported_naming_both_arrays(monkeypatch):
    from verify import against
    needs("flax")
    layout = layout_of("flax", "lstm")

    def exchange(layout, weights, *_):
        weights = dict(weights)
        weights["hi/kernel"], weights["hf/kernel"] = weights["hf/kernel"], weights["hi/kernel"]
        return weights
    monkeypatch.setattr(against, "swapped", exchange)
    run = against.against(layout, SIZES, seed=3, swap=against.Swap("", "", ""))
    entries = against.as_json([run])["results"][0]["checks"]
    named = {c["detail"]["framework"].split()[0] for c in entries
             if not c["passed"] and "framework" in c.get("detail", {})}
    assert {"hi/kernel", "hf/kernel"} <= named


def test_onnxruntime_implements_input_forget():
    """Without input_forget=1 the same weights (f rows zero) give another function: the row
    passes only because onnxruntime couples f = 1 − i."""
    import dataclasses
    from verify import against
    needs("onnx")
    layout = dataclasses.replace(layout_of("onnx", "cifg"), options=(("input_forget", 0),))
    assert not against.against(layout, SIZES, seed=3).result.passed


def test_onnxruntime_runs_lstm_in_float32_only():
    needs("onnx")
    import onnxruntime
    from verify.frameworks import onnxrt
    layout = layout_of("onnx", "lstm")
    weights = {k: v.astype(numpy.float64) for k, v in to_framework(
        "onnx", "lstm", importlib.import_module("derive.generated.lstm").init_params(3, 4)).items()}
    model = onnxrt.model(layout, weights, (2, 1, 3), 4)
    for value in model.graph.input:
        value.type.tensor_type.elem_type = 11  # DOUBLE
    for value in model.graph.output:
        value.type.tensor_type.elem_type = 11
    for init in model.graph.initializer:
        init.CopyFrom(__import__("onnx").numpy_helper.from_array(weights[init.name], init.name))
    session = onnxruntime.InferenceSession(model.SerializeToString(),
                                           providers=["CPUExecutionProvider"])
    with pytest.raises(Exception, match="does not support double"):
        session.run(None, {"X": numpy.zeros((2, 1, 3)), "initial_h": numpy.zeros((1, 1, 4)),
                           "initial_c": numpy.zeros((1, 1, 4))})


def test_keras_gives_float32_products_of_float64_operands_off_tensorflow():
    """Why Keras's Cho-form GRU row runs in float32: if Keras stops doing this, move it to
    float64."""
    needs("keras")
    import keras
    a = numpy.ones((2, 2))
    assert str(keras.ops.matmul(a, a).dtype).endswith("float32")


# -- framework -> gatecalc -> framework ---------------------------------------------------------


def _torch_weights(cell):
    import torch
    torch.manual_seed(0)
    kind = torch.nn.GRU if cell == "gru" else torch.nn.LSTM
    layer = kind(3, 4, proj_size=3) if cell == "lstmp" else kind(3, 4)
    return layer.double(), {k: v.detach().numpy() for k, v in layer.double().state_dict().items()}


@pytest.mark.parametrize("cell", ["lstm", "lstmp", "gru"])
def test_torch_to_gatecalc_to_torch_is_bit_exact(cell):
    needs("torch")
    layer, state = _torch_weights(cell)
    if cell != "gru":  # one bias per gate in the cell: PyTorch's second bias folds into the first
        summed = state["bias_ih_l0"] + state["bias_hh_l0"]
        back = to_framework("torch", cell, from_framework("torch", cell, layer))
        numpy.testing.assert_array_equal(back["bias_ih_l0"], summed)
        assert not numpy.any(back["bias_hh_l0"])
        state["bias_hh_l0"] = numpy.zeros_like(state["bias_hh_l0"])
    back = to_framework("torch", cell, from_framework("torch", cell, state))
    assert list(back) == list(state)
    for name in state:
        numpy.testing.assert_array_equal(back[name], state[name], err_msg=name)


@pytest.mark.parametrize("cell", ["lstm", "gru", "gru_cho"])
def test_keras_to_gatecalc_to_keras_is_bit_exact(cell):
    needs("keras")
    import keras
    layout = layout_of("keras", cell)
    kind = keras.layers.LSTM if cell == "lstm" else keras.layers.GRU
    layer = kind(4, dtype="float64", seed=1, bias_initializer="random_normal",
                 **dict(layout.options))
    layer.build((2, 5, 3))
    weights = layer.get_weights()
    back = to_framework("keras", cell, from_framework("keras", cell, layer))
    assert [w.shape for w in back] == [w.shape for w in weights]
    for got, want in zip(back, weights):
        numpy.testing.assert_array_equal(got, want)
    layer.set_weights(back)  # the layer takes them as they are


@pytest.mark.parametrize("cell", ["lstm", "peephole", "cifg", "gru", "gru_cho"])
def test_onnx_to_gatecalc_to_onnx_is_bit_exact(cell):
    needs("onnx")
    from onnx import numpy_helper
    layout = layout_of("onnx", cell)
    rng = numpy.random.default_rng(2)
    gates = {"lstm": 4, "peephole": 4, "cifg": 4, "gru": 3, "gru_cho": 3}[cell]
    shapes = {"W": (1, gates * 4, 3), "R": (1, gates * 4, 4), "B": (1, 2 * gates * 4),
              "P": (1, 12)}
    init = {a.name: rng.standard_normal(shapes[a.name]).astype(numpy.float32)
            for a in layout.arrays}
    if cell in ("lstm", "peephole", "cifg"):  # one bias per gate: Rb folds into Wb
        init["B"][:, 16:] = 0
    if cell == "cifg":  # input_forget=1: onnxruntime ignores the f rows
        for name, rows in (("W", slice(8, 12)), ("R", slice(8, 12))):
            init[name][:, rows] = 0
        init["B"][:, 8:12] = 0
    protos = [numpy_helper.from_array(v, k) for k, v in init.items()]
    back = to_framework("onnx", cell, from_framework("onnx", cell, protos))
    for name in init:
        assert back[name].dtype == numpy.float32
        numpy.testing.assert_array_equal(back[name], init[name], err_msg=name)


def test_flax_to_gatecalc_to_flax_is_bit_exact():
    needs("flax")
    import jax
    from flax import linen
    cell = linen.OptimizedLSTMCell(4)
    carry = cell.initialize_carry(jax.random.PRNGKey(1), (2, 3))
    variables = cell.init(jax.random.PRNGKey(0), carry, numpy.zeros((2, 3), numpy.float32))
    variables = jax.tree_util.tree_map(lambda v: v + 0.5, variables)  # biases off zero
    back = to_framework("flax", "lstm", from_framework("flax", "lstm", variables))
    want = jax.tree_util.tree_leaves_with_path(variables)
    got = dict(jax.tree_util.tree_leaves_with_path(back))
    assert len(got) == len(want)
    for path, value in want:
        numpy.testing.assert_array_equal(got[path], numpy.asarray(value), err_msg=str(path))


# -- the command line ------------------------------------------------------------------------------


def test_against_writes_check_style_json(tmp_path, capsys):
    needs("torch")
    out = tmp_path / "against.json"
    assert main(["against", "torch", "gru", "--sizes", "3,2,3,4", "--json", str(out)]) == 0
    data = json.loads(out.read_text())
    (result,) = data["results"]
    assert result["method"] == "against torch" and result["layer"] == "torch.nn.GRU"
    assert result["passed"] and result["sizes"] == {"T": 3, "B": 2, "M": 3, "D": 4}
    assert {"wrt", "normwise_rel_err", "hybrid_err", "threshold", "passed"} <= set(
        result["checks"][0])


def test_a_swap_on_the_command_line_fails_with_exit_1(capsys):
    needs("torch")
    assert main(["against", "torch", "lstm", "--swap", "weight_hh_l0:g:o"]) == 1
    assert "FAIL" in capsys.readouterr().out


@pytest.mark.parametrize("framework,module", [("torch", "torch"), ("onnx", "onnxruntime"),
                                              ("keras", "keras"), ("flax", "jax")])
def test_a_missing_framework_is_one_line_naming_the_extra(framework, module, monkeypatch,
                                                          capsys):
    monkeypatch.setitem(__import__("sys").modules, module, None)  # import now fails
    if module == "onnxruntime":
        monkeypatch.setitem(__import__("sys").modules, "onnx", None)
    cell = {"torch": "gru", "onnx": "gru", "keras": "gru", "flax": "lstm"}[framework]
    assert main(["against", framework, cell]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("error: ") and "pip install -e '.[interop]'" in err[-1]


def test_a_layout_that_does_not_fit_exits_2_naming_the_blocks(capsys):
    assert main(["against", "onnx", "lstm", "--swap", "W:i:z"]) == 2
    assert "no blocks 'i' and 'z' in 'W'" in capsys.readouterr().err
