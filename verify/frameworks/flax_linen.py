"""flax.linen.OptimizedLSTMCell, stepped over the sequence, beside the generated module (float64
with JAX's x64 mode; gradients by jax.grad)."""

from __future__ import annotations

import numpy

from derive.frameworks import flax_linen as layouts
from derive.frameworks.layout import Layout

from . import Run, require


def run(layout: Layout, weights: dict, x, state0: dict, weights_y, weights_state,
        dims: dict) -> Run:
    jax = require("jax")
    jax.config.update("jax_enable_x64", x.dtype == numpy.float64)
    linen = require("flax.linen")
    jnp = jax.numpy
    cell = linen.OptimizedLSTMCell(dims["D"], dtype=x.dtype, param_dtype=x.dtype)
    params = jax.tree_util.tree_map(jnp.asarray, layouts.to_native(weights, layout))

    def sequence(params, xs, carry):
        ys = []
        for t in range(xs.shape[0]):
            carry, y = cell.apply(params, carry, xs[t])
            ys.append(y)
        return jnp.stack(ys), dict(zip(layout.state, carry))

    def loss(params, xs, carry):
        y, final = sequence(params, xs, carry)
        total = jnp.sum(y * weights_y)
        for s, w in weights_state.items():
            total = total + jnp.sum(final[s] * w)
        return total

    carry = tuple(jnp.asarray(state0[s]) for s in layout.state)
    y, final = sequence(params, jnp.asarray(x), carry)
    d_params, d_x, d_carry = jax.grad(loss, argnums=(0, 1, 2))(params, jnp.asarray(x), carry)
    grads = {k: numpy.asarray(v) for k, v in layouts.from_native(d_params, layout).items()}
    grads["x"] = numpy.asarray(d_x)
    grads.update({f"state0.{s}": numpy.asarray(g) for s, g in zip(layout.state, d_carry)})
    import flax
    return Run(numpy.asarray(y), {s: numpy.asarray(v) for s, v in final.items()}, grads,
               f"flax {flax.__version__}, jax {jax.__version__}")
