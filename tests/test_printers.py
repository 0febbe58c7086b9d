"""The compiled target's expression printer, and the torch target's C++ one, say what the NumPy
printer says: over random expressions of the derivations' kind (sums, products, quotients, small
powers, building blocks), the printed texts evaluate to the same numbers (the C++ as Python:
``T(x)`` a float, ``std::tanh`` NumPy's; its operators mean the same on doubles). Printing needs
neither numba nor torch.

The compiled printer writes small powers as products; SymPy writes a denominator's power after
``/`` with no parentheses of its own, so ``a/s**2`` once came out ``a/s*s`` (a random cell's
gradient 40% off in the compiled and torch modules)."""

import numpy
import sympy
from hypothesis import given, settings
from hypothesis import strategies as st

from derive.ad.blocks import FUNCTIONS
from derive.targets.compiled.printer import CompiledCodePrinter, CompiledExprPrinter
from derive.targets.numpy.printer import NumPyCodePrinter, NumPyExprPrinter
from derive.targets.torch.kernels import CppExprPrinter

A, B, C = sympy.symbols("a b c")


def _positive(expr):
    """A value bounded away from 0 made from ``expr``, safe to divide by and raise to -4."""
    return 1 + FUNCTIONS["sigmoid"](expr)


expressions = st.recursive(
    st.sampled_from([A, B, C, sympy.Integer(2), sympy.Rational(1, 2)]),
    lambda inner: st.one_of(
        st.builds(lambda x, y: x + y, inner, inner),
        st.builds(lambda x, y: x - y, inner, inner),
        st.builds(lambda x, y: x * y, inner, inner),
        st.builds(lambda x, y: -x * y, inner, inner),
        st.builds(lambda x, y: x / _positive(y), inner, inner),
        st.builds(lambda x, k: _positive(x) ** k, inner, st.sampled_from([-4, -3, -2, -1, 2, 3, 4])),
        st.builds(lambda x, y, k: x / y ** k, inner, st.sampled_from([A, B, C]),
                  st.sampled_from([2, 3, 4])),
        st.builds(lambda x: FUNCTIONS["tanh"](x), inner),
        st.builds(lambda x: FUNCTIONS["sigmoid"](x), inner),
    ),
    max_leaves=8)

NAMESPACE = {"numpy": numpy, "tanh": numpy.tanh,
             "sigmoid": lambda a: 1.0 / (1.0 + numpy.exp(-a)), "T": float,
             "std_tanh": numpy.tanh, "std_exp": numpy.exp, "std_log": numpy.log,
             "std_pow": numpy.power, "std_sqrt": numpy.sqrt}
VALUES = {"a": numpy.array([0.7, 1.3, 2.1]), "b": numpy.array([1.9, 0.6, 1.1]),
          "c": numpy.array([0.9, 1.7, 0.8])}


@settings(max_examples=300, deadline=None)
@given(expr=expressions)
def test_the_compiled_printer_computes_what_the_numpy_printer_computes(expr):
    numpy_text = NumPyExprPrinter(NumPyCodePrinter.functions).doprint(expr)
    compiled_text = CompiledExprPrinter(CompiledCodePrinter.functions).doprint(expr)
    want = eval(numpy_text, dict(NAMESPACE), dict(VALUES))  # printed code, not user input
    got = eval(compiled_text, dict(NAMESPACE), dict(VALUES))
    numpy.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14,
                                  err_msg=f"{expr}: {compiled_text} against {numpy_text}")
    cpp_text = CppExprPrinter({"a": "a", "b": "b", "c": "c"}).doprint(expr)
    got = eval(cpp_text.replace("std::", "std_"), dict(NAMESPACE), dict(VALUES))
    numpy.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14,
                                  err_msg=f"{expr}: {cpp_text} against {numpy_text}")


def test_a_power_in_a_denominator_keeps_its_parentheses():
    printer = CompiledExprPrinter(CompiledCodePrinter.functions)
    assert printer.doprint(-A * B / C**2) == "-a*b/(c*c)"
    assert printer.doprint(A / (B * C**3)) == "a/(b*(c*c*c))"
