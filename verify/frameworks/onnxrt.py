"""ONNX LSTM / GRU, built with onnx.helper and run by onnxruntime (float32: the only type its CPU
LSTM and GRU kernels take; no gradients)."""

from __future__ import annotations

import numpy

from derive.frameworks.layout import Layout

from . import Run, require

OPSET = 14


def model(layout: Layout, weights: dict, sizes: tuple[int, int, int], hidden: int):
    """The one-node model: inputs X and the initial states, weights as initialisers."""
    onnx = require("onnx")
    helper, numpy_helper = onnx.helper, onnx.numpy_helper
    T, B, M = sizes
    op = layout.layer.split()[-1]
    f32 = onnx.TensorProto.FLOAT
    state_inputs = {"h": "initial_h", "c": "initial_c"}
    state_outputs = {"h": "Y_h", "c": "Y_c"}
    names = {a.name for a in layout.arrays}
    inputs = ["X", "W", "R", "B", "", state_inputs["h"]]
    if op == "LSTM":
        inputs += [state_inputs["c"], "P" if "P" in names else ""]
    node = helper.make_node(op, [i for i in inputs], ["Y"] + [state_outputs[s] for s in
                                                              layout.state],
                            hidden_size=hidden, **dict(layout.options))
    graph = helper.make_graph(
        [node], f"gatecalc_{layout.cell}",
        [helper.make_tensor_value_info("X", f32, [T, B, M])]
        + [helper.make_tensor_value_info(state_inputs[s], f32, [1, B, hidden])
           for s in layout.state],
        [helper.make_tensor_value_info("Y", f32, [T, 1, B, hidden])]
        + [helper.make_tensor_value_info(state_outputs[s], f32, [1, B, hidden])
           for s in layout.state],
        [numpy_helper.from_array(numpy.asarray(weights[n], numpy.float32), n) for n in
         sorted(names)])
    built = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    onnx.checker.check_model(built)
    return built


def run(layout: Layout, weights: dict, x, state0: dict, weights_y, weights_state,
        dims: dict) -> Run:
    ort = require("onnxruntime")
    built = model(layout, weights, x.shape, dims["D"])
    session = ort.InferenceSession(built.SerializeToString(),
                                   providers=["CPUExecutionProvider"])
    feeds = {"X": x.astype(numpy.float32)}
    feeds.update({f"initial_{s}": state0[s][None].astype(numpy.float32) for s in layout.state})
    y, *final = session.run(None, feeds)
    return Run(y[:, 0], {s: v[0] for s, v in zip(layout.state, final)}, None, ort.__version__)
