"""Whole time loops of the torch target as one C++ call (derive/targets/torch/loops.py): which
loops become one, how their views print as ATen calls, what stays a Python loop, and the
paths through them the other torch tests do not take (no dy). The numbers of every cell's
loops against the torch operations and NumPy are in test_torch_fused.py."""

import re
import shutil

import pytest
import sympy

from conftest import ALL_CELLS
from derive.targets import ir
from derive.targets.ir import ALL, NewAxis, Ref, Span
from derive.targets.torch import loops
from derive.targets.torch.printer import FusingTorchCodePrinter

t, k, D, start, stop = sympy.symbols("t k D start stop")


def _printer(kinds=None):
    return loops.CppLoopPrinter("f_loop", kinds or {}, {}, lambda: "f_1")


def test_views_print_as_aten_calls():
    """A number selects (and the axes after it move down one), a span slices, a new axis
    unsqueezes, a whole axis is left as it is; an optional tensor is read through value(), which
    raises if it is absent. Every name is the IR's and ``_``."""
    printer = _printer({"dy": loops.OPTIONAL})
    assert (printer.ref(Ref("seq")[t, ALL, Span(0, 2 * D)])
            == "seq_.select(0, t_).slice(1, 0, 2*D_)")
    assert printer.ref(Ref("seq")[Span(start, stop)]) == "seq_.slice(0, start_, stop_)"
    assert printer.ref(Ref("seq")[Span(None, -1)]) == "seq_.slice(0, 0, -1)"
    assert printer.ref(Ref("seq")[Span(1, None)]) == "seq_.slice(0, 1, INT64_MAX)"
    assert printer.ref(Ref("d_c")[ALL, NewAxis()]) == "d_c_.unsqueeze(1)"
    assert printer.ref(Ref("d_c")[NewAxis(), t]) == "d_c_.unsqueeze(0).select(1, t_)"
    assert (printer.ref(Ref("seq")[Span(start, stop), t])
            == "seq_.slice(0, start_, stop_).select(1, t_)")
    assert printer.ref(Ref("stacked")[k, ALL]) == "stacked_.select(0, k_)"
    assert printer.ref(Ref("dy")[t]) == "dy_.value().select(0, t_)"


@pytest.mark.parametrize("expr", [D / 2, sympy.floor(D / 2), sympy.Mod(D, 2), sympy.Max(1, D),
                                  D ** 5], ids=["half", "floor", "mod", "max", "pow5"])
def test_an_integer_expression_cpp_would_compute_otherwise_is_refused(expr):
    """C++ would print these in floating point, with C's remainder, or not compile."""
    with pytest.raises(loops.Unfusable):
        _printer().size(expr)
    assert _printer().size(4 * D + D ** 2 - 1) == "-1 + D_*D_ + 4*D_"


def _function(loop_body, before=()):
    """backward(params, cache, dy): ``before``, then a loop over t of ``loop_body``."""
    loop = ir.Loop("t", sympy.Integer(0), sympy.Symbol("steps"), tuple(loop_body), reverse=True)
    body = (ir.CheckArgs("backward", ("params", "cache", "dy"), ("steps", "batch", "dtype")),
            ir.Bind("xs", Ref("cache", key="xs")),
            ir.Allocate("a", (sympy.Symbol("steps"), sympy.Symbol("batch"))), *before, loop)
    return ir.Function("backward", ("params", "cache", "dy"), "doc", body,
                       ((Ref("cache", key="xs"), 3),))


def _printed(function):
    printer = FusingTorchCodePrinter()
    return printer.doprint(function), printer


A_RUN = [ir.Elementwise(Ref("a")[t], 2 * sympy.Symbol("a_t"), (("a_t", Ref("a")[t]),),
                        new=False)]


def test_a_loop_it_can_print_becomes_one_call_beside_its_torch_operations():
    source, printer = _printed(_function(A_RUN))
    assert printer.exported == ["backward_loop"]
    assert "if fused is None:\n        for t in reversed(range(steps)):" in source
    assert "fused.backward_loop(a, steps)" in source
    assert "fused.backward_1(" not in source  # the run is called from the C++ loop
    cpp = printer.kernels[-1].source()
    assert "for (int64_t t_ = steps_ - 1; t_ >= 0; --t_) {" in cpp
    assert "backward_1(a_.select(0, t_));" in cpp  # out and operand: one view, one argument


@pytest.mark.parametrize("statement, why", [
    (ir.Reduce("r", sympy.Symbol("a"), (), (0,)), "a statement it has no method for"),
    (ir.Bind("kind", Ref("dtype")), "a name of unknown kind"),
    (ir.MatMul(Ref("m"), Ref("a"), Ref("a"), cast=True), "a product cast to a dtype"),
], ids=["reduce", "dtype", "cast"])
def test_a_loop_it_cannot_print_stays_a_python_loop_with_its_runs_fused(statement, why):
    source, printer = _printed(_function([*A_RUN, statement]))
    assert printer.exported[:1] == ["backward_1"], why
    assert "backward_loop" not in source, why
    assert not any(isinstance(k, loops.LoopKernel) for k in printer.kernels), why


def test_a_tensor_the_loop_binds_again_is_passed_in_and_returned_when_read_after():
    """A carried value (bound before, read then bound again in each step, read after the loop)
    goes in as an argument and comes back; one bound only inside and never read after does
    not come back."""
    body = [ir.Bind("inner", Ref("a")[t]),
            ir.MatMul(Ref("carried_new"), Ref("carried"), Ref("inner")),
            ir.Bind("carried", Ref("carried_new"))]
    function = _function(body, before=[ir.Allocate("carried", (sympy.Symbol("batch"),))])
    function = ir.Function(function.name, function.args, function.doc,
                           (*function.body, ir.Return(("carried",))), function.ranks)
    source, printer = _printed(function)
    loop = printer.kernels[-1]
    assert loop.returns == ("carried",)
    assert (loops.TENSOR, "carried_") in loop.params
    assert "carried = fused.backward_loop(a, steps, carried)[0]" in source


TOOLS = [tool for tool in ("c++", "ninja") if shutil.which(tool) is None]


@pytest.mark.parametrize("name", ALL_CELLS)
def test_every_built_in_cells_time_loops_are_one_cpp_call_each(name):
    """The loops of forward and backward print as C++ for every built-in cell: a loop falling
    back to Python (a statement or name the loop printer does not take) would cost its speed
    silently."""
    torch = pytest.importorskip("torch", reason="needs the torch extra: pip install -e '.[torch]'")
    del torch
    from torch_targets import torch_generated
    module = torch_generated(name)
    assert set(module.KERNEL_NAMES) == {"forward_loop", "backward_loop"}, module.KERNEL_NAMES


@pytest.mark.skipif(bool(TOOLS), reason=f"the fused kernels need {' and '.join(TOOLS)}")
@pytest.mark.parametrize("name", ["lstm", "gru", "peephole"])
def test_the_cpp_loop_without_dy_gives_the_torch_operations_numbers(name):
    """backward(..., dy=None): the C++ loop's other branch of the output's arriving adjoint."""
    torch = pytest.importorskip("torch", reason="needs the torch extra: pip install -e '.[torch]'")
    from torch_targets import torch_generated
    module = torch_generated(name)
    generator = torch.Generator().manual_seed(3)
    params = module.init_params(4, 5, generator=generator)
    x = torch.randn(6, 3, 4, generator=generator, dtype=torch.float64)
    d_state_T = {s: torch.randn(3, 5, generator=generator, dtype=torch.float64)
                 for s in module.STATE}
    assert module._fused(x, params) is not None
    results = []
    saved = module.FUSED
    for fused in (True, False):
        module.FUSED = fused
        try:
            _, _, cache = module.forward(params, x)
            results.append(module.backward(params, cache, None, d_state_T))
        finally:
            module.FUSED = saved
    (grads, dx, d_state0), (plain_grads, plain_dx, plain_d_state0) = results
    torch.testing.assert_close(dx, plain_dx, rtol=1e-12, atol=1e-13)
    for key in plain_grads:
        torch.testing.assert_close(grads[key], plain_grads[key], rtol=1e-12, atol=1e-13)
    for key in plain_d_state0:
        torch.testing.assert_close(d_state0[key], plain_d_state0[key], rtol=1e-12, atol=1e-13)
    assert float(dx.abs().max()) > 0


@pytest.mark.parametrize("name", ["new", "at", "std", "int64_t", "NAN", "errno", "forward_1",
                                  "backward_loop", "grain", "block_values", "product", "no_gil"])
def test_a_name_cpp_or_the_loop_function_takes_is_never_a_cpp_local(name):
    """A spec may name a value ``new`` or ``at`` (Python allows them): as a C++ local it would
    not compile, or hide a namespace, a macro, a kernel or the function's own locals. Every
    name is printed with ``_`` after it, which none of those has."""
    body = [ir.Bind(name, Ref("a")[t]), *A_RUN,
            ir.Elementwise(Ref("a")[t], 3 * sympy.Symbol(name), new=False)]
    source, printer = _printed(_function(body))
    loop = printer.kernels[-1]
    assert isinstance(loop, loops.LoopKernel)
    cpp = loop.source()
    assert f"{name}_ = a_.select(0, t_);" in cpp
    assert f" {name} = " not in cpp and f"at::Tensor {name};" not in cpp
    assert f"{name} = a[t]" in source  # the Python loop keeps the spec's name


def test_the_cpp_of_a_spec_naming_values_like_cpp_keywords_builds_and_runs(tmp_path):
    """End to end: a cell whose gates are named ``new`` and ``at`` (gru's z and r) builds its
    C++ loops and gives the torch operations' numbers."""
    pytest.importorskip("torch", reason="needs the torch extra: pip install -e '.[torch]'")
    if TOOLS:
        pytest.skip(f"the fused kernels need {' and '.join(TOOLS)}")
    from derive.io import pipeline
    spec = (pipeline.CELLS / "gru.toml").read_text(encoding="utf-8")
    renamed = spec.replace('name = "gru"', 'name = "gru_cpp_names"')
    renamed = re.sub(r"\bz\b", "new", re.sub(r"\br\b", "at", renamed))
    assert "new = sigmoid(" in renamed and "at = sigmoid(" in renamed
    path = tmp_path / "gru_cpp_names.toml"
    path.write_text(renamed, encoding="utf-8")
    from derive.targets.torch.module import generate_module
    module = _imported(generate_module(pipeline.derivation_of(path)), tmp_path / "gru_cpp_names.py")
    assert module.KERNEL_NAMES == ("forward_loop", "backward_loop")
    _fused_and_torch_agree(module)


def _imported(source: str, path):
    """The generated module ``source``, written to ``path`` and imported from there."""
    import importlib.util
    path.write_text(source, encoding="utf-8")
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _fused_and_torch_agree(module):
    """forward and backward of ``module`` (M = 3, D = 4; T = 5, B = 3) with its kernels and
    with the torch operations: y, every gradient and dx agree to rounding."""
    import torch
    params = module.init_params(3, 4, generator=torch.Generator().manual_seed(0))
    x = torch.randn(5, 3, 3, dtype=torch.float64)
    dy = torch.randn(5, 3, 4, dtype=torch.float64)
    assert module._fused(x, params) is not None
    results = []
    for fused in (True, False):
        module.FUSED = fused
        y, _, cache = module.forward(params, x)
        results.append((y, *module.backward(params, cache, dy)))
    (y, grads, dx, _), (plain_y, plain_grads, plain_dx, _) = results
    torch.testing.assert_close(y, plain_y, rtol=1e-12, atol=1e-13)
    torch.testing.assert_close(dx, plain_dx, rtol=1e-12, atol=1e-13)
    for key in plain_grads:
        torch.testing.assert_close(grads[key], plain_grads[key], rtol=1e-12, atol=1e-13)


def test_a_loop_that_stays_python_still_calls_each_runs_kernel_and_agrees(tmp_path, monkeypatch):
    """The fallback no built-in cell takes: with the loop printer refusing every loop, the
    module calls each run's kernel from Python (blocks of FUSED_BLOCK_VALUES values) and gives
    the torch operations' numbers."""
    pytest.importorskip("torch", reason="needs the torch extra: pip install -e '.[torch]'")
    if TOOLS:
        pytest.skip(f"the fused kernels need {' and '.join(TOOLS)}")
    from derive.io import pipeline
    from derive.targets.torch.module import generate_module

    def refuse(self, loop, read_after):
        raise loops.Unfusable("refused by the test")
    monkeypatch.setattr(loops.CppLoopPrinter, "make", refuse)
    source = generate_module(pipeline.derivation_of(pipeline.CELLS / "lstm.toml"))
    assert "FUSED_BLOCK_VALUES) // max(1, batch*D))" in source
    module = _imported(source, tmp_path / "lstm_python_loops.py")
    assert module.KERNEL_NAMES == ("forward_1", "backward_1", "backward_2", "backward_3")
    module.FUSED_BLOCK_VALUES = 3 * 4 * 2  # blocks of two steps (B = 3, D = 4)
    _fused_and_torch_agree(module)


def test_a_long_cpp_line_without_parentheses_wraps_at_its_braces():
    """A kernel with many outputs lists them in braces (``outs = {a0, ...}``): wrapping that
    line must not fail (it raised ValueError, a traceback at generation) and must keep it."""
    from derive.targets.torch.kernels import WIDTH, _wrap_call
    line = "  const std::vector<at::Tensor> outs = {" + ", ".join(f"a{i}" for i in range(40)) + "};"
    wrapped = _wrap_call(line)
    assert len(wrapped) > 1 and all(len(part) <= WIDTH - 4 for part in wrapped)
    assert " ".join(part.strip() for part in wrapped) == line.strip()
