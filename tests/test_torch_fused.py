"""The torch target's fused C++ kernels (derive/targets/torch/kernels.py, loops.py): each time
loop one compiled call, its elementwise runs fused. They must build where a compiler is, give the
torch operations' numbers to rounding for every cell (both checked against the NumPy module), be
the path that actually ran, and leave the process's floating-point behaviour alone."""

import shutil

import numpy
import pytest

torch = pytest.importorskip("torch", reason="needs the torch extra: pip install -e '.[torch]'")

from conftest import ALL_CELLS, generated  # noqa: E402
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
    """The built kernels, counting the calls of each."""

    def __init__(self, built):
        self.built, self.calls = built, {}

    def __getattr__(self, name):
        kernel = getattr(self.built, name)

        def call(*args):
            self.calls[name] = self.calls.get(name, 0) + 1
            return kernel(*args)
        return call


def _run(module, fused, dtype, sizes=None):
    """forward and backward of ``module`` through the NumPy adapter, FUSED set to ``fused``,
    the backward in blocks of a few steps (a block boundary inside the sequence)."""
    sizes = sizes or SIZES
    numpy_module = generated(module.CELL)
    problem = make_problem(numpy_module, sizes, seed=7, dtype=dtype)
    params, x, state0 = problem.split(problem.arrays)
    problem.module = NumpyView(module)
    saved = module.FUSED
    module.FUSED = fused
    try:
        with small_blocks(problem.module, sizes):
            y, state_T, _ = problem.module.forward(params, x, state0)
            return y, state_T, problem.gradient(problem.arrays), problem
    finally:
        module.FUSED = saved


WIDE = Sizes(T=3, B=700, M=3, D=3)
"""Enough rows that a kernel's rows are split over threads (4096 values a thread at least)."""


@needs_compiler
@pytest.mark.parametrize("name", ALL_CELLS)
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("sizes", [SIZES, WIDE], ids=["small", "wide"])
def test_the_kernels_build_run_and_agree_with_the_torch_operations_and_numpy(name, dtype, sizes):
    module = torch_generated(name)
    built = module._fused(torch.zeros(1, dtype=getattr(torch, dtype)), {})
    assert built is not None, "the kernels did not build (see the warning)"
    counting = _Counting(built)
    module._BUILT["kernels"] = counting
    try:
        y, state_T, grads, problem = _run(module, True, dtype, sizes)
    finally:
        module._BUILT["kernels"] = built
    # every kernel Python calls ran (each time loop is one call; its runs are called from C++)
    assert set(counting.calls) == set(module.KERNEL_NAMES), counting.calls
    plain_y, plain_state, plain_grads, _ = _run(module, False, dtype, sizes)
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
    assert module._fused(torch.zeros(1, dtype=torch.float64), {}) is not None
    tiny = 1e-310  # subnormal in float64
    assert (torch.tensor(tiny, dtype=torch.float64) * 0.5).item() > 0
    assert numpy.float64(tiny) * numpy.float64(0.5) > 0


def test_the_kernels_are_not_used_off_cpu_off_float_under_autograd_or_when_turned_off(
        monkeypatch):
    module = torch_generated("lstm")
    monkeypatch.setattr(module, "_BUILT", {"kernels": "built"})  # what a build would give
    params = module.init_params(3, 4)
    assert module._fused(torch.zeros(1, dtype=torch.complex128), params) is None
    assert module._fused(torch.zeros(1, dtype=torch.float16), params) is None
    assert module._fused(torch.zeros(1, dtype=torch.float64, device="meta"), params) is None
    recorded = {k: v.clone().requires_grad_(True) for k, v in params.items()}
    assert module._fused(torch.zeros(1, dtype=torch.float64), recorded) is None
    assert module._fused(torch.zeros(1, dtype=torch.float64, requires_grad=True), params) is None
    state0 = {"h": torch.zeros(1, 4, dtype=torch.float64, requires_grad=True)}
    assert module._fused(torch.zeros(1, dtype=torch.float64), params, state0) is None
    cache = {"kept": {"c": state0["h"]}, "xs": torch.zeros(1)}
    assert module._fused(torch.zeros(1, dtype=torch.float64), params, cache, None, {}) is None
    assert module._fused(torch.zeros(1, dtype=torch.float64), params, None, None, {}) == "built"
    with torch.no_grad():  # not recording: the kernels may run
        assert module._fused(torch.zeros(1, dtype=torch.float64), recorded) == "built"
    strided = {**params, "U_i": params["U_i"].T.contiguous().T}  # rows not contiguous
    assert module._fused(torch.zeros(1, dtype=torch.float64), strided) is None
    saved = module.FUSED
    module.FUSED = False
    try:
        assert module._fused(torch.zeros(1, dtype=torch.float64), params) is None
    finally:
        module.FUSED = saved


def test_a_failed_build_warns_once_and_the_torch_operations_run(monkeypatch):
    module = torch_generated("gru")
    from torch.utils import cpp_extension

    def fail(*args, **kwargs):
        raise RuntimeError("Error building extension 'x'\nninja: build stopped")
    monkeypatch.setattr(cpp_extension, "load_inline", fail)
    monkeypatch.setattr(module, "_BUILT", {})
    with pytest.warns(RuntimeWarning, match="C\\+\\+ compiler") as caught:
        y, _, _, _ = _run(module, True, "float64")
    assert len([w for w in caught if "did not build" in str(w.message)]) == 1
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


def test_two_views_of_an_array_and_an_array_named_like_the_second_get_distinct_pointers():
    import sympy
    a, b, c_2 = sympy.symbols("a b c_2")
    run = [ir.Elementwise(ir.Ref("out"), a + b + c_2, (("a", ir.Ref("c")),
                                                       ("b", ir.Ref("c", (ir.ALL, ir.NewAxis())))),
                          new=False)]
    ranks = {id(run[0]): {"c": 2, "c_2": 2, "out": 2}}
    kernel = kernels.make_kernel("k", run, ranks, lambda ref: repr(ref))
    pointers = [p for _, p, _ in kernel.statements[0].operands]
    assert len(pointers) == len(set(pointers)) == 4, pointers


def test_a_lock_left_by_a_stopped_build_is_not_waited_for(monkeypatch, tmp_path):
    """torch before 2.14 waits forever for the lock file of a build that was killed: the
    module says which file it is and runs the torch operations instead; a young lock (a build
    running now) is left to torch."""
    import os
    import time
    module = torch_generated("lstm")
    from torch.utils import cpp_extension
    built = []
    monkeypatch.setattr(cpp_extension, "_get_build_directory", lambda name, verbose: str(tmp_path))
    monkeypatch.setattr(cpp_extension, "load_inline",
                        lambda *args, **kwargs: built.append(args[0]) or "built")
    lock = tmp_path / "lock"
    lock.write_text("")
    old = time.time() - 2 * module.STALE_LOCK_SECONDS
    os.utime(lock, (old, old))
    monkeypatch.setattr(module, "_BUILT", {})
    with pytest.warns(RuntimeWarning, match="minutes old") as caught:
        assert module._fused(torch.zeros(1, dtype=torch.float64), {}) is None
    assert str(lock) in str(caught[0].message) and built == []
    os.utime(lock, None)  # a build holding it now
    monkeypatch.setattr(module, "_BUILT", {})
    assert module._fused(torch.zeros(1, dtype=torch.float64), {}) == "built"
    assert len(built) == 1
