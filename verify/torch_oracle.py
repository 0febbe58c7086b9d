"""A separately built oracle for the PyTorch target: the spec's equations rendered as torch
operations, forward only, and torch's own autograd for every gradient.

It shares with the code it checks only the parsed spec (the Cell's SymPy equations): no
derivation, no plan, no IR, no printer, and not the building blocks' derivative rules. Each
function maps to torch's own (``FUNCTIONS``, this file's small table), whose derivative torch
knows; ``A @ v`` is ``v @ A.T`` on a batch of rows. A test runs the project's 8 methods on the
oracle itself (forward against SymPy at 50 digits, gradients against exact and numeric
derivatives), so it is checked before anything is checked against it.

``OracleModule`` offers the torch form of the generated-module contract (``forward``,
``backward``, ``step_forward``, ``step_backward``, ``init_params`` and the metadata), so the
same comparisons and the NumPy-contract adapter (``verify/torch_adapter.py``) run on both.
"""

from __future__ import annotations

import functools
import math
import operator

import sympy
import torch

from derive.ad.cell import Cell, prev_name

FUNCTIONS = {"sigmoid": torch.sigmoid, "tanh": torch.tanh, "exp": torch.exp, "log": torch.log}


class Renderer:
    """Evaluates one SymPy expression of a cell on tensors: each unit symbol stands for the
    whole (B, size) tensor of its vector, so the scalar algebra becomes elementwise torch."""

    def __init__(self, cell: Cell):
        self.maps = {m.symbol: m for m in cell.linear_maps}

    def render(self, expr: sympy.Expr, env: dict, params: dict):
        if isinstance(expr, sympy.Symbol):
            m = self.maps.get(expr)
            if m is not None:
                return env[m.operand] @ params[m.matrix].T
            return env[expr.name]
        if expr.is_Number:
            return float(expr)
        if expr.is_Add or expr.is_Mul:
            join = operator.add if expr.is_Add else operator.mul
            return functools.reduce(join, [self.render(a, env, params) for a in expr.args])
        if expr.is_Pow and expr.exp.is_Integer:
            return self.render(expr.base, env, params) ** int(expr.exp)
        if isinstance(expr, sympy.Function) and type(expr).__name__ in FUNCTIONS:
            (argument,) = expr.args
            return FUNCTIONS[type(expr).__name__](self.render(argument, env, params))
        raise TypeError(f"the torch oracle cannot render {expr!r}")


def dimension_sizes(cell: Cell, params: dict, x: torch.Tensor) -> dict[str, int]:
    """Each dimension name's size, read off the parameters' shapes and the input."""
    sizes = {cell.input[1]: x.shape[-1]}
    for p in cell.params:
        sizes.update(zip(p.shape, params[p.name].shape))
    return sizes


def oracle_step(cell: Cell, params: dict, x_t: torch.Tensor, state: dict) -> dict:
    """One step of the spec's equations: x_t (B, M), state {name: (B, size)} -> state_new."""
    renderer = Renderer(cell)
    env = {p.name: params[p.name] for p in cell.params if not p.is_matrix}
    env[cell.input[0]] = x_t
    env.update({prev_name(s): state[s] for s in cell.state_names})
    for eq in cell.equations:
        env[eq.target] = renderer.render(eq.expr, env, params)
    # a state computed from parameters alone (no x, no state) is one row: one per sample
    return {s: env[s].expand(x_t.shape[0], -1) for s in cell.state_names}


def oracle_forward(cell: Cell, params: dict, x: torch.Tensor, state0: dict | None = None):
    """The sequence: x (T, B, M) -> (y (T, B, size), state_T), zeros for missing states."""
    state0 = {} if state0 is None else state0
    sizes = dimension_sizes(cell, params, x)
    state = {s: state0[s] if s in state0 else x.new_zeros((x.shape[1], sizes[dim]))
             for s, dim in cell.state}
    ys = []
    for t in range(x.shape[0]):
        state = oracle_step(cell, params, x[t], state)
        ys.append(state[cell.output])
    return torch.stack(ys), state


class OracleModule:
    """The oracle in the torch form of the generated-module contract; gradients by autograd."""

    def __init__(self, cell: Cell):
        self.cell = cell
        self.__name__ = f"torch_oracle.{cell.name}"
        self.CELL = cell.name
        self.PARAMS = {p.name: p.shape for p in cell.params}
        self.SIZES = dict(cell.sizes)
        self.INPUT = cell.input[0]
        self.STATE = cell.state_names
        self.STATE_DIMS = dict(cell.state)
        self.OUTPUT = cell.output
        self.INIT = {p.name: p.init for p in cell.params if p.init is not None}

    def init_params(self, input_size, hidden_size, *, generator=None, dtype=torch.float64,
                    device=None, **other_sizes):
        """Uniform in ±1/sqrt(hidden_size), the spec's constants where it gives them."""
        by_keyword = dict(other_sizes, input_size=input_size, hidden_size=hidden_size)
        sizes = {dim: by_keyword[keyword] for dim, keyword in self.SIZES.items()}
        scale = 1.0 / math.sqrt(hidden_size)
        params = {}
        for name, dims in self.PARAMS.items():
            shape = tuple(sizes[d] for d in dims)
            if name in self.INIT:
                params[name] = torch.full(shape, self.INIT[name], dtype=dtype, device=device)
            else:
                params[name] = (torch.rand(shape, generator=generator, dtype=torch.float64) * 2
                                - 1).mul_(scale).to(dtype=dtype, device=device)
        return params

    def _leaves(self, params, x, state):
        names = list(params) + ["x"] + [f"state.{s}" for s in state]
        values = list(params.values()) + [x] + list(state.values())
        return dict(zip(names, (v.detach().clone().requires_grad_(True) for v in values)))

    def _split(self, leaves):
        params = {k: leaves[k] for k in self.PARAMS}
        return params, leaves["x"], {s: leaves[f"state.{s}"] for s in self.STATE}

    def forward(self, params, x, state0=None):
        state0 = {} if state0 is None else state0
        sizes = dimension_sizes(self.cell, params, x)
        full = {s: state0[s] if s in state0 else x.new_zeros((x.shape[1], sizes[d]))
                for s, d in self.STATE_DIMS.items()}
        leaves = self._leaves(params, x, full)
        with torch.enable_grad():
            y, state_T = oracle_forward(self.cell, *self._split(leaves))
        cache = {"leaves": leaves, "outputs": [y] + [state_T[s] for s in self.STATE]}
        return y.detach(), {s: v.detach() for s, v in state_T.items()}, cache

    def backward(self, params, cache, dy, d_state_T=None):
        d_state_T = {} if d_state_T is None else d_state_T
        outputs = cache["outputs"]
        adjoints = [torch.zeros_like(outputs[0]) if dy is None else dy]
        adjoints += [d_state_T.get(s, torch.zeros_like(v)) + torch.zeros_like(v)
                     for s, v in zip(self.STATE, outputs[1:])]
        leaves = cache["leaves"]
        found = torch.autograd.grad(outputs, list(leaves.values()), adjoints, retain_graph=True,
                                    allow_unused=True)
        grads = {k: torch.zeros_like(v) if g is None else g
                 for (k, v), g in zip(leaves.items(), found)}
        params, dx, d_state0 = self._split(grads)
        return params, dx, d_state0

    def step_forward(self, params, x_t, state):
        y, state_T, cache = self.forward(params, x_t[None], state)
        return state_T, cache

    def step_backward(self, params, step_cache, d_state_new):
        grads, dx, d_state = self.backward(params, step_cache, None, d_state_new)
        return grads, dx[0], d_state
