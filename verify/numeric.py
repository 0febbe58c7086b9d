"""Numeric derivatives of a scalar function of named arrays, by several independent methods.

``f`` takes ``{name: array}`` and returns a scalar. Nothing here knows about cells: these are the
textbook methods, written plainly so each can be read against its formula.

- central differences, (f(θ+h) − f(θ−h)) / 2h with h = ε^(1/3)·max(1, |θ|): error O(h²) + O(ε/h);
- Richardson extrapolation of two central differences, (4·D(h/2) − D(h)) / 3: error O(h⁴);
- complex step, Im f(θ + ih) / h with h = 1e-30: no subtraction, so no cancellation;
- directional derivatives along random directions v, compared with ⟨g, v⟩;
- the Taylor remainder |f(θ+εv) − f(θ) − ε⟨g, v⟩|, which falls like ε² when g is right.
"""

from __future__ import annotations

from typing import Callable, Mapping

import numpy

Arrays = Mapping[str, numpy.ndarray]
Scalar = Callable[[Arrays], complex]

COMPLEX_STEP = 1e-30


def central_step(value, dtype, power: float = 1.0 / 3.0) -> float:
    """h ≈ ε^power·max(1, |θ|). power 1/3 balances the central difference's truncation O(h²)
    against rounding O(ε/h); 1/5 does the same for Richardson's O(h⁴)."""
    eps = numpy.finfo(numpy.dtype(dtype)).eps
    return float(eps**power * max(1.0, abs(value)))


def _perturbed(arrays: Arrays, name: str, index, delta) -> dict:
    """A copy of ``arrays`` with ``arrays[name][index] += delta`` (upcast when delta is complex)."""
    out = dict(arrays)
    changed = numpy.array(arrays[name], dtype=numpy.result_type(arrays[name], delta), copy=True)
    changed[index] += delta
    out[name] = changed
    return out


def central(f: Scalar, arrays: Arrays, name: str, scale: float = 1.0,
            power: float = 1.0 / 3.0) -> numpy.ndarray:
    """Central differences for every element of ``arrays[name]``; ``scale`` multiplies h."""
    base = arrays[name]
    grad = numpy.zeros(base.shape, numpy.float64)
    for index in numpy.ndindex(base.shape):
        h = scale * central_step(base[index], base.dtype, power)
        plus = f(_perturbed(arrays, name, index, h))
        minus = f(_perturbed(arrays, name, index, -h))
        grad[index] = numpy.real(plus - minus) / (2 * h)
    return grad


def richardson(f: Scalar, arrays: Arrays, name: str, levels: int = 2) -> numpy.ndarray:
    """Richardson extrapolation (Romberg's table) of central differences D at h, h/2, ...:
    two levels give (4·D(h/2) − D(h)) / 3, cancelling the h² term (error O(h⁴)); each further
    level halves h once more and cancels the next even power (three: O(h⁶))."""
    rows = [central(f, arrays, name, scale=2.0 / 2**k, power=0.2) for k in range(levels)]
    for order in range(1, levels):
        factor = 4.0**order
        rows = [(factor * fine - coarse) / (factor - 1.0) for coarse, fine in zip(rows, rows[1:])]
    return rows[0]


def complex_step(f: Scalar, arrays: Arrays, name: str) -> numpy.ndarray:
    """Im f(θ + i·h·e_k) / h. ``f`` must be complex-analytic code (the generated modules are)."""
    complex_arrays = {k: numpy.asarray(v, numpy.complex128) for k, v in arrays.items()}
    base = complex_arrays[name]
    grad = numpy.zeros(base.shape, numpy.float64)
    for index in numpy.ndindex(base.shape):
        value = f(_perturbed(complex_arrays, name, index, 1j * COMPLEX_STEP))
        grad[index] = numpy.imag(value) / COMPLEX_STEP
    return grad


def random_directions(arrays: Arrays, count: int, rng: numpy.random.Generator) -> list[dict]:
    """``count`` directions with independent standard Gaussian entries in every array."""
    return [{k: rng.standard_normal(v.shape) for k, v in arrays.items()} for _ in range(count)]


def along(arrays: Arrays, direction: Arrays, epsilon) -> dict:
    return {k: arrays[k] + epsilon * direction[k] for k in arrays}


def inner(grads: Arrays, direction: Arrays) -> float:
    return float(sum(numpy.real(numpy.vdot(direction[k], grads[k])) for k in direction))


def directional(f: Scalar, arrays: Arrays, direction: Arrays) -> float:
    """d/dε f(θ + εv) at 0, by Richardson-extrapolated central differences in ε."""
    norm = numpy.sqrt(sum(float(numpy.sum(numpy.abs(v) ** 2)) for v in direction.values()))
    scale = max(1.0, max(float(numpy.max(numpy.abs(a))) for a in arrays.values()))
    h = central_step(scale, numpy.float64, power=0.2) / norm

    def difference(step):
        return numpy.real(f(along(arrays, direction, step)) - f(along(arrays, direction, -step))) / (2 * step)

    return float((4.0 * difference(h) - difference(2 * h)) / 3.0)


def taylor_remainders(f: Scalar, arrays: Arrays, grads: Arrays, direction: Arrays,
                      epsilons: list[float]) -> list[float]:
    """|f(θ+εv) − f(θ) − ε⟨g, v⟩| for each ε."""
    base = numpy.real(f(arrays))
    slope = inner(grads, direction)
    return [abs(float(numpy.real(f(along(arrays, direction, e))) - base - e * slope)) for e in epsilons]


def convergence_rates(epsilons: list[float], remainders: list[float]) -> list[float]:
    """Observed orders log(r_k / r_k+1) / log(ε_k / ε_k+1); 2 when the gradient is right."""
    rates = []
    for (e0, r0), (e1, r1) in zip(zip(epsilons, remainders), zip(epsilons[1:], remainders[1:])):
        if r0 <= 0 or r1 <= 0:
            rates.append(float("nan"))
        else:
            rates.append(float(numpy.log(r0 / r1) / numpy.log(e0 / e1)))
    return rates
