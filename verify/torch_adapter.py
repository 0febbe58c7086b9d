"""A torch module seen through the NumPy contract, so the project's 8 check methods
(``verify/gradcheck.py``) run on it unchanged.

A torch module (a generated one from ``derive/generated/torch/``, or ``torch_oracle.OracleModule``)
has the contract's functions over tensors: ``forward(params, x, state0) -> (y, state_T, cache)``,
``backward(params, cache, dy, d_state_T) -> (grads, dx, d_state0)``, the step functions and
``init_params(..., generator=, dtype=, device=)``. ``NumpyView`` converts arrays to tensors on the
way in and back on the way out, and nothing else: every number is the torch module's.

Arrays of one call are promoted to their common NumPy type first (the complex step perturbs one
array into complex128 while the rest stay float64; NumPy promotes, a torch product of float64 and
complex128 refuses). torch runs float32, float64 and complex128 on every operation the generated
modules use (matrix products, tanh, sigmoid, exp, log), so every method runs, the complex step too.
"""

from __future__ import annotations

import numpy
import torch

METADATA = ("PARAMS", "SIZES", "CELL", "INPUT", "STATE", "STATE_DIMS", "OUTPUT", "INIT", "CACHE",
            "__file__")


BLOCK_SIZES = ("BLOCK_VALUES", "FUSED_BLOCK_VALUES")
"""Constants of the torch module a check sets through the view (they are read at call time)."""


class NumpyView:
    """The NumPy contract over a torch module, on ``device`` (CPU unless told)."""

    def __init__(self, torch_module, device: str | torch.device = "cpu"):
        self.torch_module = torch_module
        self.device = torch.device(device)
        self.__name__ = torch_module.__name__
        for name in METADATA:
            if getattr(torch_module, name, None) is not None:
                setattr(self, name, getattr(torch_module, name))

    def __getattr__(self, name):
        """The torch module's block sizes, read through (``faults.small_blocks`` lowers them)."""
        if name in BLOCK_SIZES and "torch_module" in self.__dict__:
            return getattr(self.torch_module, name)
        raise AttributeError(name)

    def __setattr__(self, name, value):
        if name in BLOCK_SIZES:
            setattr(self.torch_module, name, value)
        else:
            super().__setattr__(name, value)

    def _tensors(self, *groups):
        """Each group ({name: array} or an array or None) as tensors of one common type."""
        arrays = [a for g in groups if g is not None
                  for a in (g.values() if isinstance(g, dict) else [g])]
        common = numpy.result_type(*arrays) if arrays else numpy.float64

        def tensor(a):
            return torch.from_numpy(numpy.array(a, dtype=common)).to(self.device)

        return [None if g is None else {k: tensor(v) for k, v in g.items()}
                if isinstance(g, dict) else tensor(g) for g in groups]

    def init_params(self, input_size, hidden_size, *, rng=None, dtype=numpy.float64, **sizes):
        rng = numpy.random.default_rng() if rng is None else rng
        generator = torch.Generator().manual_seed(int(rng.integers(2**62)))
        params = self.torch_module.init_params(input_size, hidden_size, generator=generator,
                                               dtype=torch.float64, **sizes)
        return {k: numpy.asarray(_array(v), dtype=dtype) for k, v in params.items()}

    def forward(self, params, x, state0=None):
        params, x, state0 = self._tensors(params, x, state0)
        y, state_T, cache = self.torch_module.forward(params, x, state0)
        return _array(y), _arrays(state_T), cache

    def backward(self, params, cache, dy, d_state_T=None):
        params, dy, d_state_T = self._tensors(params, dy, d_state_T)
        grads, dx, d_state0 = self.torch_module.backward(params, cache, dy, d_state_T)
        return _arrays(grads), _array(dx), _arrays(d_state0)

    def step_forward(self, params, x_t, state):
        params, x_t, state = self._tensors(params, x_t, state)
        state_new, step_cache = self.torch_module.step_forward(params, x_t, state)
        return _arrays(state_new), step_cache

    def step_backward(self, params, step_cache, d_state_new):
        params, d_state_new = self._tensors(params, d_state_new)
        grads, dx_t, d_state = self.torch_module.step_backward(params, step_cache, d_state_new)
        return _arrays(grads), _array(dx_t), _arrays(d_state)


def _array(tensor: torch.Tensor) -> numpy.ndarray:
    return tensor.detach().resolve_conj().cpu().numpy()


def _arrays(tensors: dict) -> dict:
    return {k: _array(v) for k, v in tensors.items()}
