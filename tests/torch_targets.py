"""Torch implementations of a cell that the torch tests run alike: each is a function
``run(params, x, state0, dy, d_state_T) -> (y, state_T, grads, dx, d_state0)`` over tensors.

- "oracle": the spec's equations as torch operations, gradients by autograd (verify/torch_oracle);
- "sequence": the generated torch module's forward and backward functions (the derived backward);
- "module": the generated nn.Module under autograd, through its torch.autograd.Function;
- "recompute": the same with recompute=True (the backward recomputes the gates).
"""

import importlib

import pytest
import torch

from derive.io import pipeline
from derive.spec.reader import parse_spec
from verify.torch_oracle import OracleModule


def torch_generated(name: str):
    return importlib.import_module(f"derive.generated.torch.{name}")


def _oracle(name):
    return _sequence_of(OracleModule(parse_spec(pipeline.resolve_spec(name))))


def _sequence(name):
    return _sequence_of(torch_generated(name))


def _sequence_of(module):
    def run(params, x, state0, dy, d_state_T):
        y, state_T, cache = module.forward(params, x, state0)
        grads, dx, d_state0 = module.backward(params, cache, dy, d_state_T)
        return y, state_T, grads, dx, d_state0
    return run


def _module(name, recompute=False):
    module = torch_generated(name)

    def run(params, x, state0, dy, d_state_T):
        cell = module.Cell(**sizes_of(module, params, x), recompute=recompute).to(x.dtype)
        with torch.no_grad():
            for k, v in params.items():
                getattr(cell, k).copy_(v)
        x = x.clone().requires_grad_(True)
        state0 = {s: v.clone().requires_grad_(True) for s, v in state0.items()}
        y, state_T = cell(x, state0)
        torch.autograd.backward([y] + [state_T[s] for s in module.STATE],
                                [dy] + [d_state_T[s] for s in module.STATE])
        grads = {k: p.grad for k, p in cell.named_parameters()}
        return (y.detach(), {s: v.detach() for s, v in state_T.items()}, grads, x.grad,
                {s: v.grad for s, v in state0.items()})
    return run


def sizes_of(module, params, x):
    """The Cell's size keywords, read off the parameters' shapes."""
    dims = {d: n for k, shape in module.PARAMS.items() for d, n in zip(shape, params[k].shape)}
    dims.update({d: x.shape[-1] for d, kw in module.SIZES.items() if kw == "input_size"})
    return {kw: dims[d] for d, kw in module.SIZES.items()}


RUNNERS = {"oracle": _oracle, "sequence": _sequence, "module": _module,
           "recompute": lambda name: _module(name, recompute=True)}


def implementations(which=("oracle", "sequence", "module", "recompute")):
    return [pytest.param(RUNNERS[k], id=k) for k in which]
