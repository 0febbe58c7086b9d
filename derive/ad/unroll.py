"""A cell at M = D = 1, unrolled over a few steps: every value a symbol of its own (``c@1``)
with its definition over earlier ones.

With one unit per vector, a matrix is a number and ``A @ v`` is a product, so the whole sequence
is scalar algebra that SymPy differentiates directly. This is the independent side of two
checks: the backpropagation-through-time recurrence a page shows (``recurrence``) is confirmed
equal to SymPy's derivative of this unrolled loss, and the worked example's numbers are computed
here exactly, beside the generated module's.

The total derivative of the loss with respect to one intermediate value (``a_i`` at step 2) is
found in forward mode: a tangent of 1 on that value is carried through every later statement
(each statement's partials by ``sympy.diff``) into the loss; nothing of the derivation's
adjoint equations (reverse mode) is used. Functions stay the building blocks' own (``sigmoid(a)``, differentiated by their table rows, which
``tests/test_blocks.py`` checks against SymPy's built-ins); ``blocks.to_builtin`` turns a
result into built-ins for exact evaluation.
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy

from derive.ad.adjoint import Derivation
from derive.ad.blocks import to_builtin
from derive.ad.cell import prev_name


@dataclass(frozen=True)
class Point:
    """Where the sequence is evaluated: a value per parameter, per input step, per initial state,
    and the loss's weights ``L = Σ_t wy_t y_t + Σ_s ws_s s_T``."""

    params: dict[str, sympy.Expr]
    xs: tuple[sympy.Expr, ...]
    state0: dict[str, sympy.Expr]
    wy: tuple[sympy.Expr, ...]
    ws: dict[str, sympy.Expr]


def symbolic_point(derivation: Derivation, steps: int) -> Point:
    """Every quantity a symbol: identities checked at this point hold everywhere."""
    cell = derivation.cell
    return Point(
        params={p.name: sympy.Symbol(f"P_{p.name}") for p in cell.params},
        xs=tuple(sympy.Symbol(f"X_{t}") for t in range(1, steps + 1)),
        state0={s: sympy.Symbol(f"S0_{s}") for s in cell.state_names},
        wy=tuple(sympy.Symbol(f"WY_{t}") for t in range(1, steps + 1)),
        ws={s: sympy.Symbol(f"WS_{s}") for s in cell.state_names},
    )


def named_run(derivation: Derivation, point: Point) -> tuple[list[dict[str, sympy.Expr]],
                                                              dict[sympy.Symbol, sympy.Expr]]:
    """Each step's values as symbols of their own (``c@1``), and each one's definition over
    earlier ones (``i@2 -> sigmoid(a_i@2)``), in computing order: tangents stay small
    expressions over named values, as a textbook writes them."""
    cell = derivation.cell
    state = dict(point.state0)
    steps, definitions = [], {}
    for t, x in enumerate(point.xs, start=1):
        env: dict[str, sympy.Expr] = dict(point.params)
        env[cell.input[0]] = x
        env.update({prev_name(s): state[s] for s in cell.state_names})
        for statement in derivation.forward:
            named = sympy.Symbol(f"{statement.target}@{t}")
            if statement.is_linear_map:
                definitions[named] = env[statement.matrix] * env[statement.operand]
            else:
                definitions[named] = statement.expr.xreplace(
                    {sympy.Symbol(n): v for n, v in env.items()})
            env[statement.target] = named
        state = {s: env[s] for s in cell.state_names}
        steps.append(env)
    return steps, definitions


def evaluate(definitions: dict[sympy.Symbol, sympy.Expr], digits: int) -> dict[sympy.Symbol,
                                                                            sympy.Float]:
    """The named values as numbers at ``digits`` significant digits (from exact inputs)."""
    numbers: dict[sympy.Symbol, sympy.Float] = {}
    for named, definition in definitions.items():
        numbers[named] = sympy.N(to_builtin(definition).xreplace(numbers), digits)
    return numbers


def total_derivative(derivation: Derivation, point: Point, step: int, name: str,
                     values: list[dict[str, sympy.Expr]]) -> sympy.Expr:
    """dL/d(name at step), over the named values of ``named_run``: the tangent of ``name``
    carried forward through every later statement (each statement's partials by
    ``sympy.diff``), then into the loss ``Σ_t wy_t y_t + Σ_s ws_s s_T``."""
    return _tangent_loss(derivation, point, values, (step, name))


def _tangent_loss(derivation, point, values, seed: tuple[int, str]) -> sympy.Expr:
    cell = derivation.cell
    step, name = seed
    carried: dict[str, sympy.Expr] = {}  # the state's tangents from the step before
    tangent_roots = {cell.input[0], *(prev_name(s) for s in cell.state_names)}
    zero = sympy.Integer(0)
    total = zero
    for t, env in enumerate(values, start=1):
        if t < step:
            continue
        tangent = {prev_name(s): v for s, v in carried.items()}
        started = t > step
        if t == step and name in tangent_roots:  # a previous state or the input: a leaf
            tangent[name], started = sympy.Integer(1), True
        for statement in derivation.forward:
            if not started:
                if statement.target == name:
                    started = True
                    tangent[name] = sympy.Integer(1)
                continue
            if statement.is_linear_map:
                d = env[statement.matrix] * tangent.get(statement.operand, zero)
            else:
                d = zero
                for symbol in statement.expr.free_symbols:
                    if tangent.get(symbol.name, zero) != 0:
                        partial = sympy.diff(statement.expr, symbol).xreplace(
                            {sympy.Symbol(n): v for n, v in env.items()})
                        d += partial * tangent[symbol.name]
            if d != 0:
                tangent[statement.target] = d
        carried = {s: tangent[s] for s in cell.state_names if s in tangent}
        total += point.wy[t - 1] * tangent.get(cell.output, zero)
    return total + sum((point.ws[s] * v for s, v in carried.items()), zero)
