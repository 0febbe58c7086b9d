"""An independent forward and an independent derivative, evaluated by SymPy at 50 digits.

This shares nothing with the generated code but the parsed spec: no normalisation, no adjoints,
no printer, no derivative rules from ``derive.blocks``. Each equation is rewritten in SymPy's
built-ins (``sigmoid(a)`` becomes ``1/(1+exp(-a))``) and evaluated unit by unit, with linear maps
summed element by element. Numbers are SymPy Floats of ``DIGITS`` digits: a float64 converts
exactly, so every result is right to far more digits than float64 holds. It is slow, and meant
for tiny sizes.

``exact_gradient`` differentiates the unrolled sequence in forward mode: every value carries its
derivative with respect to one input element, and each equation's local derivatives come from
``sympy.diff`` of that equation in built-ins. This gives the same number as ``sympy.diff`` of the
whole unrolled loss (a test checks that on one element), in time linear in the sequence instead
of exponential (the whole-tree form took over 300 s for one cell at T=2, M=D=2).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy
import sympy

from derive.ad.blocks import to_builtin
from derive.ad.cell import Cell, prev_name

DIGITS = 50
ZERO = sympy.Float(0, DIGITS)


def _exact(value) -> sympy.Float:
    """A float64 as a DIGITS-digit SymPy Float (exact: 53 bits fit in 50 digits)."""
    value = complex(value)
    if value.imag:
        raise ValueError("the reference evaluates real inputs only")
    return sympy.Float(value.real, DIGITS)


@dataclass(frozen=True)
class _Equation:
    target: str
    expr: sympy.Expr  # in SymPy built-ins
    partials: tuple[tuple[sympy.Symbol, sympy.Expr], ...]  # (s, d expr / d s)


def _prepare(cell: Cell, with_partials: bool) -> list[_Equation]:
    out = []
    for eq in cell.equations:
        expr = to_builtin(eq.expr)
        symbols = sorted(expr.free_symbols, key=lambda s: s.name)
        partials = tuple((s, sympy.diff(expr, s)) for s in symbols) if with_partials else ()
        out.append(_Equation(eq.target, expr, partials))
    return out


class _Evaluator:
    """Runs the unrolled sequence on (value, tangent) pairs of SymPy Floats."""

    def __init__(self, cell: Cell, arrays: dict, seed: tuple[str, tuple] | None = None):
        self.cell = cell
        self.maps = {m.symbol: m for m in cell.linear_maps}
        self.equations = _prepare(cell, seed is not None)
        self.values = {k: numpy.vectorize(_exact, otypes=[object])(v) for k, v in arrays.items()}
        self.tangents = {k: numpy.full(numpy.shape(v), ZERO, dtype=object) for k, v in arrays.items()}
        if seed is not None:
            self.tangents[seed[0]][seed[1]] = sympy.Float(1, DIGITS)
        self.sizes = {cell.input[1]: numpy.shape(arrays["x"])[2]}
        for p in cell.params:
            self.sizes.update(zip(p.shape, numpy.shape(arrays[p.name])))

    def run(self):
        """(y, state_T, dy, dstate_T) as object arrays of Floats."""
        steps, batch = self.values["x"].shape[:2]
        y, dy = [], []
        state = {s: (self.values[f"state0.{s}"], self.tangents[f"state0.{s}"])
                 for s in self.cell.state_names}
        for t in range(steps):
            new = [self._step(t, b, {s: (v[b], d[b]) for s, (v, d) in state.items()})
                   for b in range(batch)]
            state = {s: (numpy.array([n[s][0] for n in new]), numpy.array([n[s][1] for n in new]))
                     for s in self.cell.state_names}
            y.append(state[self.cell.output][0])
            dy.append(state[self.cell.output][1])
        return (numpy.array(y), {s: v for s, (v, _) in state.items()}, numpy.array(dy),
                {s: d for s, (_, d) in state.items()})

    def _step(self, t: int, b: int, state: dict) -> dict:
        env = {self.cell.input[0]: (self.values["x"][t, b], self.tangents["x"][t, b])}
        env.update({prev_name(s): pair for s, pair in state.items()})
        for p in self.cell.params:
            if not p.is_matrix:
                env[p.name] = (self.values[p.name], self.tangents[p.name])
        for eq in self.equations:
            size = self.sizes[self.cell.dim_of(eq.target)]
            values, tangents = [], []
            for unit in range(size):
                point = {s: self._unit(s, env, unit) for s in eq.expr.free_symbols}
                values.append(eq.expr.xreplace({s: v for s, (v, _) in point.items()}).evalf(DIGITS))
                tangent = ZERO
                for s, partial in eq.partials:
                    ds = point[s][1]
                    if ds != 0:
                        at = partial.xreplace({q: v for q, (v, _) in point.items()})
                        tangent += at.evalf(DIGITS) * ds
                tangents.append(tangent)
            env[eq.target] = (numpy.array(values, dtype=object), numpy.array(tangents, dtype=object))
        return {s: env[s] for s in self.cell.state_names}

    def _unit(self, symbol: sympy.Symbol, env: dict, unit: int):
        """(value, tangent) of one unit of a vector or of a linear map's result."""
        m = self.maps.get(symbol)
        if m is None:
            value, tangent = env[symbol.name]
            return value[unit], tangent[unit]
        row, d_row = self.values[m.matrix][unit], self.tangents[m.matrix][unit]
        v, dv = env[m.operand]
        return (sum(row * v, ZERO), sum(d_row * v + row * dv, ZERO))


def _float(value) -> float:
    """A real value as a float; NaN where the real function is undefined (log of a negative
    number is complex in SymPy, NaN in NumPy): a non-finite result the check reports."""
    try:
        return float(value)
    except TypeError:
        return float("nan")


def _floats(array) -> numpy.ndarray:
    return numpy.vectorize(_float, otypes=[numpy.float64])(array)


def reference_forward(cell: Cell, params: dict, x, state0: dict):
    """(y, state_T) as float64 arrays, computed by SymPy at DIGITS digits then rounded once."""
    arrays = dict(params, x=x, **{f"state0.{s}": v for s, v in state0.items()})
    y, state_T, _, _ = _Evaluator(cell, arrays).run()
    return _floats(y), {s: _floats(v) for s, v in state_T.items()}


def exact_gradient(cell: Cell, arrays: dict, weights_y, weights_state, name: str) -> numpy.ndarray:
    """dL/d arrays[name], L = Σ wy·y + Σ_s ws_s·state_T[s]; ``arrays`` holds params by name,
    "x" and "state0.<s>"."""
    grad = numpy.zeros(numpy.shape(arrays[name]))
    wy = numpy.vectorize(_exact, otypes=[object])(weights_y)
    ws = {s: numpy.vectorize(_exact, otypes=[object])(w) for s, w in weights_state.items()}
    for index in numpy.ndindex(grad.shape):
        _, _, dy, dstate = _Evaluator(cell, arrays, seed=(name, index)).run()
        total = numpy.sum(wy * dy) + sum(numpy.sum(ws[s] * dstate[s]) for s in ws)
        grad[index] = _float(total)
    return grad


def whole_tree_derivative(cell: Cell, arrays: dict, weights_y, weights_state, name: str,
                          index: tuple) -> float:
    """dL/d arrays[name][index] by ``sympy.diff`` of the fully unrolled loss, as one expression.

    Slow (the tree repeats every earlier step); kept to show that ``exact_gradient`` agrees.
    """
    theta = sympy.Symbol("theta")
    evaluator = _Evaluator(cell, arrays)
    point = evaluator.values[name][index]
    evaluator.values[name][index] = theta
    y, state_T, _, _ = evaluator.run()
    wy = numpy.vectorize(_exact, otypes=[object])(weights_y)
    loss = numpy.sum(wy * y)
    for s, w in weights_state.items():
        loss += numpy.sum(numpy.vectorize(_exact, otypes=[object])(w) * state_T[s])
    return float(sympy.diff(loss, theta).xreplace({theta: point}).evalf(DIGITS))
