"""The torch oracle (the spec's equations as torch operations, gradients by torch's autograd) is
itself checked before anything is checked against it, and the adapter that runs the 8 methods on
a torch module through the NumPy contract catches a wrong forward or gradient."""

import numpy
import pytest

torch = pytest.importorskip("torch", reason="needs the torch extra: pip install -e '.[torch]'")

from conftest import ALL_CELLS, generated  # noqa: E402
from derive.io import pipeline  # noqa: E402
from derive.spec.reader import parse_spec  # noqa: E402
from verify.gradcheck import METHODS, Sizes, check, make_problem, reference_sizes  # noqa: E402
from verify.torch_adapter import NumpyView  # noqa: E402
from verify.torch_oracle import OracleModule, oracle_forward  # noqa: E402

SIZES = Sizes(T=4, B=3, M=3, D=4)


def _cell(name):
    return parse_spec(pipeline.resolve_spec(name))


def _run(module, cell, method, dtype="float64", seed=0):
    used = reference_sizes(SIZES) if method in ("forward", "exact") else SIZES
    return check(make_problem(module, used, seed, dtype=dtype), method, dtype, cell)


@pytest.mark.parametrize("name", ALL_CELLS)
@pytest.mark.parametrize("method", ["forward", "exact"])
def test_the_oracle_agrees_with_sympy_on_every_cell(name, method):
    """Forward against SymPy evaluating the spec at 50 digits; autograd against SymPy's exact
    derivative of the unrolled loss."""
    cell = _cell(name)
    result = _run(NumpyView(OracleModule(cell)), cell, method)
    assert result.passed, [(c.wrt, c.normwise_rel_err) for c in result.checks if not c.passed]


@pytest.mark.parametrize("name", ["lstm", "gru", "lstmp"])
@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_every_method_runs_on_a_torch_module_through_the_adapter(name, method, dtype):
    cell = _cell(name)
    result = _run(NumpyView(OracleModule(cell)), cell, method, dtype)
    assert result.passed, [(c.wrt, c.normwise_rel_err) for c in result.checks if not c.passed]
    assert len(result.checks) >= 1


class _WrongGradient(OracleModule):
    """The oracle with one array's gradient off by 0.1%."""

    def __init__(self, cell, wrong):
        super().__init__(cell)
        self.wrong = wrong

    def backward(self, params, cache, dy, d_state_T=None):
        grads, dx, d_state0 = super().backward(params, cache, dy, d_state_T)
        if self.wrong == "x":
            dx = dx * 1.001
        elif self.wrong in grads:
            grads[self.wrong] = grads[self.wrong] * 1.001
        return grads, dx, d_state0


class _WrongForward(OracleModule):
    def forward(self, params, x, state0=None):
        y, state_T, cache = super().forward(params, x, state0)
        return y * (1 + 1e-9), state_T, cache


@pytest.mark.parametrize("method", ["exact", "central", "richardson", "complex"])
@pytest.mark.parametrize("wrong", ["U_f", "x"])
def test_the_adapter_reports_a_wrong_gradient_of_a_torch_module(method, wrong):
    cell = _cell("lstm")
    result = _run(NumpyView(_WrongGradient(cell, wrong)), cell, method)
    failed = {c.wrt for c in result.checks if not c.passed}
    assert failed == {wrong}


@pytest.mark.parametrize("method", ["directional", "taylor"])
def test_the_adapter_reports_a_wrong_gradient_along_directions(method):
    cell = _cell("gru")
    result = _run(NumpyView(_WrongGradient(cell, "U_n")), cell, method)
    assert not result.passed


def test_the_adapter_reports_a_wrong_forward():
    cell = _cell("lstm")
    result = _run(NumpyView(_WrongForward(cell)), cell, "forward")
    assert {c.wrt for c in result.checks if not c.passed} == {"y"}


def test_the_adapter_promotes_a_complex_perturbation_like_numpy():
    """The complex step perturbs one array into complex128: the torch module gets every tensor
    in complex128 (torch refuses a float64 by complex128 product) and returns complex output."""
    view = NumpyView(OracleModule(_cell("lstm")))
    problem = make_problem(view, SIZES, seed=1)
    params, x, state0 = problem.split(problem.arrays)
    params["W_i"] = params["W_i"] + 1e-30j
    y, state_T, _ = view.forward(params, x, state0)
    assert y.dtype == numpy.complex128 and numpy.any(y.imag != 0)
    y_real, _, _ = view.forward(problem.split(problem.arrays)[0], x, state0)
    numpy.testing.assert_allclose(y.real, y_real, rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("name", ALL_CELLS)
def test_the_oracle_computes_what_the_numpy_module_computes(name):
    """Two independent renderings of one spec (torch autograd of the equations; the derived
    NumPy module) agree on the outputs and every gradient."""
    module = generated(name)
    problem = make_problem(module, SIZES, seed=5)
    oracle = NumpyView(OracleModule(_cell(name)))
    params, x, state0 = problem.split(problem.arrays)
    y, state_T, _ = module.forward(params, x, state0)
    y_oracle, state_T_oracle, _ = oracle.forward(params, x, state0)
    numpy.testing.assert_allclose(y_oracle, y, rtol=1e-12, atol=1e-14)
    for s in module.STATE:
        numpy.testing.assert_allclose(state_T_oracle[s], state_T[s], rtol=1e-12, atol=1e-14)
    expected = problem.gradient(problem.arrays)
    problem.module = oracle
    got = problem.gradient(problem.arrays)
    assert set(got) == set(expected)
    for k in expected:
        numpy.testing.assert_allclose(got[k], expected[k], rtol=1e-10, atol=1e-12, err_msg=k)


def test_a_missing_state_is_zeros_in_the_oracle():
    cell = _cell("lstmp")
    oracle = OracleModule(cell)
    params = oracle.init_params(3, 4, proj_size=2, generator=torch.Generator().manual_seed(0))
    x = torch.randn(5, 2, 3, dtype=torch.float64)
    zeros = {"h": torch.zeros(2, 2, dtype=torch.float64), "c": torch.zeros(2, 4,
                                                                            dtype=torch.float64)}
    y, state_T = oracle_forward(cell, params, x, {"c": zeros["c"]})
    y0, state_T0 = oracle_forward(cell, params, x, zeros)
    assert torch.equal(y, y0) and y.shape == (5, 2, 2)
    assert all(torch.equal(state_T[s], state_T0[s]) for s in ("h", "c"))
