"""A worked example: M = D = 1, T = 2, small rational weights; every forward value and every
error term δ as a number, computed twice, side by side: by the generated module (its step
functions, whose local variables are read as they return) and by SymPy exactly from the spec
(``unroll``: rationals, then 15 significant digits).
"""

from __future__ import annotations

import random
import sys
from dataclasses import dataclass
from fractions import Fraction

import numpy
import sympy

from derive.ad.adjoint import Derivation
from derive.ad.blocks import to_builtin
from derive.ad.cell import prev_name
from derive.ad import unroll
from derive.naming import adjoint_name, latex_name
from derive.pages.flow import load

STEPS = 2
DIGITS = 40  # SymPy's working precision, from the exact rational inputs
SEED = 11


@dataclass(frozen=True)
class Row:
    quantity: str  # LaTeX
    module: float
    exact: sympy.Float


@dataclass(frozen=True)
class Example:
    point: unroll.Point
    forward: tuple[Row, ...]
    backward: tuple[Row, ...]


def example_point(derivation: Derivation) -> unroll.Point:
    """Parameters, inputs and initial states k/10 (1 <= |k| <= 9), the loss's weights k/10
    (1 <= k <= 9), from a fixed seed."""
    cell = derivation.cell
    rng = random.Random(SEED)

    def number(signs=(-1, 1)) -> sympy.Rational:
        return sympy.Rational(rng.choice(signs) * rng.randint(1, 9), 10)
    return unroll.Point(
        params={p.name: number() for p in cell.params},
        xs=tuple(number() for _ in range(STEPS)),
        state0={s: number() for s in cell.state_names},
        wy=tuple(number((1,)) for _ in range(STEPS)),
        ws={s: number((1,)) for s in cell.state_names})


def _locals_of(function, call):
    """Run ``call()``; return it and the local variables of ``function`` as it returned."""
    seen = {}

    def profile(frame, event, arg):
        if event == "return" and frame.f_code is function.__code__:
            seen.update(frame.f_locals)
    previous = sys.getprofile()
    sys.setprofile(profile)
    try:
        result = call()
    finally:
        sys.setprofile(previous)
    return result, seen


def _module_run(derivation: Derivation, module_text: str, point: unroll.Point):
    """Per step, the module's forward locals and backward locals (float values)."""
    module = load(module_text)
    cell = derivation.cell

    def array(value, shape):
        return numpy.full(shape, float(Fraction(str(value))))
    params = {p.name: array(point.params[p.name], (1,) * len(p.shape)) for p in cell.params}
    state = {s: array(point.state0[s], (1, 1)) for s in cell.state_names}
    forward, caches = [], []
    for x in point.xs:
        (state, cache), seen = _locals_of(
            module.step_forward, lambda: module.step_forward(params, array(x, (1, 1)), state))
        forward.append(seen)
        caches.append(cache)
    d_state = {s: array(point.ws[s], (1, 1)) for s in cell.state_names}
    backward = []
    for t in reversed(range(len(point.xs))):
        d_state[cell.output] = d_state[cell.output] + float(Fraction(str(point.wy[t])))
        (_, _, d_state), seen = _locals_of(
            module.step_backward, lambda: module.step_backward(params, caches[t], d_state))
        backward.insert(0, seen)
    return forward, backward


def _number(value) -> float:
    return float(numpy.asarray(value).reshape(-1)[0].real)


def worked_example(derivation: Derivation, module_text: str) -> Example:
    cell = derivation.cell
    point = example_point(derivation)
    values, definitions = unroll.named_run(derivation, point)
    numbers = unroll.evaluate(definitions, DIGITS)

    def exact(expr: sympy.Expr) -> sympy.Float:
        return sympy.N(to_builtin(expr).xreplace(numbers), 15)
    forward_locals, backward_locals = _module_run(derivation, module_text, point)
    shown = [s.target for s in derivation.forward if not s.is_linear_map]
    adjoints = [a.target for a in derivation.backward if a.role == "local"]
    forward, backward = [], []
    for t in range(1, STEPS + 1):
        for name in shown:
            if name in forward_locals[t - 1]:
                forward.append(Row(latex_name(name, cell, str(t)),
                                   _number(forward_locals[t - 1][name]),
                                   exact(values[t - 1][name])))
    for t in range(STEPS, 0, -1):
        for name in adjoints:
            local = backward_locals[t - 1].get(adjoint_name(name))
            if local is not None:
                backward.append(Row(latex_name(adjoint_name(name), cell, str(t)), _number(local),
                                    exact(unroll.total_derivative(derivation, point, t, name,
                                                                  values))))
    for s in cell.state_names:  # what reaches the initial state
        total = unroll.total_derivative(derivation, point, 1, prev_name(s), values)
        backward.append(Row(rf"\delta {latex_name(s, cell, '0')}",
                            _number(backward_locals[0][adjoint_name(prev_name(s))]),
                            exact(total)))
    return Example(point, tuple(forward), tuple(backward))
