"""The torch target's fused C++ kernels (derive/targets/torch/kernels.py): each loop's elementwise
runs as one compiled call. They must build where a compiler is, give the torch operations'
numbers to rounding for every cell (both checked against the NumPy module), be the path that
actually ran, and leave the process's floating-point behaviour alone."""

import shutil

import numpy
import pytest

torch = pytest.importorskip("torch", reason="needs the torch extra: pip install -e '.[torch]'")

from conftest import ALL_CELLS, generated  # noqa: E402
from derive.ad.blocks import BLOCKS  # noqa: E402
from derive.targets import ir  # noqa: E402
from derive.targets.torch import kernels  # noqa: E402
from torch_targets import torch_generated  # noqa: E402
from verify.faults import small_blocks  # noqa: E402
from verify.gradcheck import Sizes, make_problem  # noqa: E402
from verify.torch_adapter import NumpyView  # noqa: E402

TOOLS = [tool for tool in ("c++", "ninja") if shutil.which(tool) is None]
needs_compiler = pytest.mark.skipif(
    bool(TOOLS), reason=f"the fused kernels need {' and '.join(TOOLS)} "
    "(apt-get install g++; pip install -e '.[torch]' brings ninja)")

SIZES = Sizes(T=5, B=3, M=4, D=3)


class _Counting:
    """The built kernels, counting the calls made through them."""

    def __init__(self, built):
        self.built, self.calls = built, 0

    def __getattr__(self, name):
        self.calls += 1
        return getattr(self.built, name)


def _run(module, fused, dtype):
    """forward and backward of ``module`` through the NumPy adapter, FUSED set to ``fused``,
    the backward in blocks of a few steps (a block boundary inside the sequence)."""
    numpy_module = generated(module.CELL)
    problem = make_problem(numpy_module, SIZES, seed=7, dtype=dtype)
    params, x, state0 = problem.split(problem.arrays)
    problem.module = NumpyView(module)
    saved = module.FUSED
    module.FUSED = fused
    try:
        with small_blocks(problem.module, SIZES):
            y, state_T, _ = problem.module.forward(params, x, state0)
            return y, state_T, problem.gradient(problem.arrays), problem
    finally:
        module.FUSED = saved


@needs_compiler
@pytest.mark.parametrize("name", ALL_CELLS)
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_the_kernels_build_run_and_agree_with_the_torch_operations_and_numpy(name, dtype):
    module = torch_generated(name)
    built = module._fused(torch.zeros(1, dtype=getattr(torch, dtype)))
    assert built is not None, "the kernels did not build (see the warning)"
    counting = _Counting(built)
    module._BUILT["kernels"] = counting
    try:
        y, state_T, grads, problem = _run(module, True, dtype)
    finally:
        module._BUILT["kernels"] = built
    assert counting.calls >= SIZES.T  # a kernel at least once a step, forward and backward
    plain_y, plain_state, plain_grads, _ = _run(module, False, dtype)
    numpy_module = generated(name)
    params, x, state0 = problem.split(problem.arrays)
    expected_y, _, _ = numpy_module.forward(params, x, state0)
    rtol, atol = (1e-12, 1e-13) if dtype == "float64" else (2e-5, 2e-6)
    numpy.testing.assert_allclose(y, expected_y, rtol=rtol, atol=atol)
    numpy.testing.assert_allclose(y, plain_y, rtol=rtol, atol=atol)
    for s in state_T:
        numpy.testing.assert_allclose(state_T[s], plain_state[s], rtol=rtol, atol=atol)
    problem.module = numpy_module
    expected = problem.gradient(problem.arrays)
    for k in expected:
        numpy.testing.assert_allclose(grads[k], plain_grads[k], rtol=10 * rtol, atol=10 * atol,
                                      err_msg=k)
        numpy.testing.assert_allclose(grads[k], expected[k], rtol=10 * rtol, atol=10 * atol,
                                      err_msg=k)


@needs_compiler
def test_the_kernels_leave_subnormal_numbers_alone():
    """Compiled with -ffast-math but linked without it: loading them must not switch the
    process to flush-to-zero (GCC's crtfastmath would), which would change every library's
    numbers."""
    module = torch_generated("lstm")
    assert module._fused(torch.zeros(1, dtype=torch.float64)) is not None
    tiny = 1e-310  # subnormal in float64
    assert (torch.tensor(tiny, dtype=torch.float64) * 0.5).item() > 0
    assert numpy.float64(tiny) * numpy.float64(0.5) > 0


def test_the_kernels_are_not_used_off_cpu_or_off_float_or_when_turned_off():
    module = torch_generated("lstm")
    assert module._fused(torch.zeros(1, dtype=torch.complex128)) is None
    saved = module.FUSED
    module.FUSED = False
    try:
        assert module._fused(torch.zeros(1, dtype=torch.float64)) is None
    finally:
        module.FUSED = saved


def test_a_failed_build_warns_once_and_the_torch_operations_run(monkeypatch):
    module = torch_generated("gru")
    from torch.utils import cpp_extension

    def fail(*args, **kwargs):
        raise RuntimeError("Error building extension 'x'\nninja: build stopped")
    monkeypatch.setattr(cpp_extension, "load_inline", fail)
    monkeypatch.setattr(module, "_BUILT", {})
    with pytest.warns(RuntimeWarning, match="C\\+\\+ compiler"):
        y, _, _, _ = _run(module, True, "float64")
    assert module._BUILT == {"kernels": None}
    plain_y, _, _, _ = _run(module, False, "float64")
    numpy.testing.assert_array_equal(y, plain_y)


def test_the_adapter_lowers_the_fused_block_size_with_the_plain_one():
    """The checks run the backward in small blocks (faults.small_blocks) through the adapter:
    with the kernels on, that must reach FUSED_BLOCK_VALUES too, or block boundaries in the
    fused path would go unchecked."""
    module = torch_generated("lstm")
    view = NumpyView(module)
    before = (module.BLOCK_VALUES, module.FUSED_BLOCK_VALUES)
    with small_blocks(view, SIZES):
        assert module.BLOCK_VALUES == module.FUSED_BLOCK_VALUES < before[0]
    assert (module.BLOCK_VALUES, module.FUSED_BLOCK_VALUES) == before


def test_every_building_block_has_a_cpp_form():
    assert set(kernels.FUNCTIONS) == set(BLOCKS)


def test_a_run_reading_an_array_of_unknown_rank_stays_torch_operations():
    import sympy
    a, b = sympy.symbols("a b")
    run = [ir.Elementwise(ir.Ref("c"), a * b, new=True)]
    ranks = {id(run[0]): {"a": 2}}  # b's rank is not known
    with pytest.raises(kernels.Unfusable):
        kernels.make_kernel("k", run, ranks, lambda ref: ref.name)
    ranks = {id(run[0]): {"a": 2, "b": 2}}
    kernel = kernels.make_kernel("k", run, ranks, lambda ref: ref.name)
    assert kernel.args == ("c", "a", "b") and kernel.allocations == (("c", "a"),)
