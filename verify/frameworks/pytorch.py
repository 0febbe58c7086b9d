"""torch.nn.LSTM / torch.nn.GRU beside the generated module (float64; gradients by autograd)."""

from __future__ import annotations

import numpy

from derive.frameworks.layout import Layout

from . import Run, require


def run(layout: Layout, weights: dict, x, state0: dict, weights_y, weights_state,
        dims: dict) -> Run:
    torch = require("torch")
    dtype = {numpy.float64: torch.float64, numpy.float32: torch.float32}[x.dtype.type]
    options = {k: dims[v] if isinstance(v, str) else v for k, v in layout.options}
    kind = {"torch.nn.LSTM": torch.nn.LSTM, "torch.nn.GRU": torch.nn.GRU}[layout.layer]
    layer = kind(x.shape[2], dims["D"], dtype=dtype, **options)
    layer.load_state_dict({k: torch.from_numpy(numpy.array(v)) for k, v in weights.items()})
    tx = torch.tensor(x, requires_grad=True)
    t0 = {s: torch.tensor(state0[s][None], requires_grad=True) for s in layout.state}
    initial = tuple(t0[s] for s in layout.state)
    y, final = layer(tx, initial if len(initial) > 1 else initial[0])
    final = final if isinstance(final, tuple) else (final,)
    state_T = dict(zip(layout.state, (f[0] for f in final)))
    loss = (y * torch.from_numpy(weights_y)).sum()
    for s, w in weights_state.items():
        loss = loss + (state_T[s] * torch.from_numpy(w)).sum()
    loss.backward()
    grads = {name: p.grad.numpy() for name, p in layer.named_parameters()}
    grads["x"] = tx.grad.numpy()
    grads.update({f"state0.{s}": t0[s].grad.numpy()[0] for s in layout.state})
    return Run(y.detach().numpy(), {s: v.detach().numpy() for s, v in state_T.items()}, grads,
               torch.__version__)
