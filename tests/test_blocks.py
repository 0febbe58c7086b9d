"""The building-block table is the one place function facts live: each fact checked here against
SymPy's own definition of the function, not against the table."""

import pytest
import sympy

from derive.ad.blocks import BLOCKS

a = sympy.Symbol("a", real=True)
POINTS = [-3.5, -0.7, 0.0, 0.4, 2.9]


@pytest.mark.parametrize("name", list(BLOCKS))
def test_derivative_rule_equals_sympys_derivative_of_the_definition(name):
    block = BLOCKS[name]
    y = block.definition(a)
    rule = block.derivative(a, y)
    truth = sympy.diff(y, a)
    for point in POINTS if name != "log" else [0.3, 1.0, 7.5]:
        assert abs(float((rule - truth).subs(a, point))) < 1e-14


@pytest.mark.parametrize("name", [n for n, b in BLOCKS.items() if b.tanh_form])
def test_tanh_form_is_an_identity(name):
    inner, scale, shift = (sympy.Rational(v) for v in BLOCKS[name].tanh_form)  # exact binary
    difference = BLOCKS[name].definition(a) - (shift + scale * sympy.tanh(inner * a))
    assert sympy.simplify(difference.rewrite(sympy.exp)) == 0
    for point in POINTS:
        assert abs(float(difference.subs(a, point))) < 1e-15


def test_only_the_functions_whose_derivative_needs_the_argument_say_so():
    assert {n for n, b in BLOCKS.items() if b.derivative_needs_argument} == {"log"}


def test_sigmoid_inner_factor_is_a_power_of_two():
    # the sequence code folds the inner factor into stacked weights; a power of two makes that
    # exact in binary floating point, so it changes no rounding
    inner = BLOCKS["sigmoid"].tanh_form[0]
    assert inner == 2.0 ** round(sympy.log(inner, 2))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_sigmoid_through_tanh_with_halved_rows_is_bit_identical_to_the_helper(dtype):
    """What the sequence code does to sigmoid gates (halve the rows before the loop, then one
    tanh, a scale and a shift) changes no bit against the module's sigmoid helper."""
    import numpy
    namespace = {"numpy": numpy}
    exec(BLOCKS["sigmoid"].numpy_helper, namespace)
    rng = numpy.random.default_rng(1)
    W = rng.standard_normal((64, 48)).astype(dtype) * 3
    b = rng.standard_normal(64).astype(dtype)
    x = rng.standard_normal((48, 200)).astype(dtype)
    helper = namespace["sigmoid"]((W @ x).T + b)
    inner, scale, shift = BLOCKS["sigmoid"].tanh_form
    fused = numpy.tanh(((inner * W) @ x).T + inner * b) * scale + shift
    assert numpy.array_equal(helper, fused)
