"""keras.layers.LSTM / GRU on Keras's torch backend beside the generated module (float64;
gradients by torch autograd through the layer's variables)."""

from __future__ import annotations

import os

import numpy

from derive.frameworks.layout import Layout

from . import MissingFramework, Run, require


def run(layout: Layout, weights: dict, x, state0: dict, weights_y, weights_state,
        dims: dict) -> Run:
    os.environ.setdefault("KERAS_BACKEND", "torch")  # no TensorFlow needed
    keras = require("keras")
    torch = require("torch")
    if keras.backend.backend() != "torch":
        raise MissingFramework(f"Keras runs on {keras.backend.backend()} here: set "
                               f"KERAS_BACKEND=torch (pip install -e '.[interop]' has torch)")
    kind = {"keras.layers.LSTM": keras.layers.LSTM, "keras.layers.GRU": keras.layers.GRU}
    layer = kind[layout.layer](dims["D"], return_sequences=True, return_state=True,
                               dtype=str(x.dtype), **dict(layout.options))
    layer.build((x.shape[1], x.shape[0], x.shape[2]))
    layer.set_weights([weights[a.name] for a in layout.arrays])
    tx = torch.tensor(numpy.ascontiguousarray(x.transpose(1, 0, 2)), requires_grad=True)
    t0 = {s: torch.tensor(state0[s], requires_grad=True) for s in layout.state}
    out = layer(tx, initial_state=[t0[s] for s in layout.state])
    y, state_T = out[0].transpose(0, 1), dict(zip(layout.state, out[1:]))
    loss = (y * torch.from_numpy(weights_y)).sum()
    for s, w in weights_state.items():
        loss = loss + (state_T[s] * torch.from_numpy(w)).sum()
    variables = [v.value for v in layer.weights]
    found = torch.autograd.grad(loss, variables + [tx] + [t0[s] for s in layout.state])
    grads = {a.name: g.numpy() for a, g in zip(layout.arrays, found)}
    grads["x"] = found[len(variables)].numpy().transpose(1, 0, 2)
    grads.update({f"state0.{s}": g.numpy() for s, g in zip(layout.state,
                                                             found[len(variables) + 1:])})
    return Run(y.detach().numpy(), {s: v.detach().numpy() for s, v in state_T.items()}, grads,
               keras.__version__)
