"""The compiled target (derive/targets/compiled/): printed from the same loop IR as the NumPy
module, checked like it. Checks that run compiled code need numba (the fast extra) and skip
without it; printing a compiled module and the error without numba are tested everywhere."""

import importlib
import json
import re
import sys

import numpy
import pytest

from conftest import run
from derive.io import pipeline
from test_mutations import FAULTS, Fault

NEEDS_FAST = "needs the fast extra: pip install -e '.[fast]'"
CELLS = ("lstm", "gru", "peephole")  # the bench's cells: standard, another family, peepholes


def _modules(cell):
    pytest.importorskip("numba", reason=NEEDS_FAST)
    return (importlib.import_module(f"derive.generated.{cell}"),
            importlib.import_module(f"derive.generated.compiled.{cell}"))


def _problem(module, dtype, seed=0, T=6, B=3, M=4, D=5):
    rng = numpy.random.default_rng(seed)
    sizes = {dim: {"M": M, "D": D}.get(dim, 3) for dim in module.SIZES}  # others (P): 3
    params = module.init_params(**{module.SIZES[d]: n for d, n in sizes.items()}, rng=rng,
                                dtype=numpy.float64)
    params = {k: (v + 0.1 * rng.standard_normal(v.shape)).astype(dtype) for k, v in params.items()}
    state0 = {s: rng.standard_normal(p.shape).astype(dtype)
              for s, p in module.zero_state(params, B, dtype).items()}
    x = rng.standard_normal((T, B, M)).astype(dtype)
    dy = rng.standard_normal((T, B, state0[module.OUTPUT].shape[1])).astype(dtype)
    return params, x, state0, dy


def _units(module, params, batch):
    """batch x the state's units, from the module's zero state (not from its own helper)."""
    return batch * sum(v.shape[1] for v in module.zero_state(params, batch, "float64").values())


@pytest.mark.parametrize("path", ["compiled loops", "stepped path"])
@pytest.mark.parametrize("dtype", ["float32", "float64", "complex128"])
@pytest.mark.parametrize("cell", CELLS)
def test_compiled_agrees_with_numpy_module_to_rounding(cell, dtype, path, monkeypatch):
    reference, compiled = _modules(cell)
    monkeypatch.setattr(compiled, "STEPPED_FROM", 0 if path == "stepped path" else 10**9)
    params, x, state0, dy = _problem(reference, dtype)
    if dtype == "complex128":
        x = x + 0.1j * x
    d_state_T = {s: 0.5 * v for s, v in state0.items()}
    outputs = []
    for module in (reference, compiled):
        y, state_T, cache = module.forward(params, x, state0)
        grads, dx, d_state0 = module.backward(params, cache, dy, d_state_T)
        grads_no_dy, _, _ = module.backward(params, cache, None, d_state_T)
        outputs.append([y, dx, *state_T.values(), *grads.values(), *d_state0.values(),
                        *grads_no_dy.values()])
        assert y.dtype == numpy.dtype(dtype) and dx.dtype == numpy.dtype(dtype)
    tol = 1e-5 if dtype == "float32" else 1e-12
    for ours, theirs in zip(*outputs):
        numpy.testing.assert_allclose(ours, theirs, rtol=tol, atol=tol)


def test_compiled_refuses_a_dtype_it_is_not_built_for():
    reference, compiled = _modules("lstm")
    params, x, state0, _ = _problem(reference, "float16")
    with pytest.raises(TypeError, match="float32, float64, complex128, not float16"):
        compiled.forward(params, x, state0)


@pytest.mark.parametrize("cell", CELLS)
def test_stepped_path_taken_from_the_threshold_on(cell, monkeypatch):
    """forward and backward call the stepped functions exactly when batch x units >=
    STEPPED_FROM."""
    reference, compiled = _modules(cell)
    params, x, state0, dy = _problem(reference, "float64")
    taken = []
    for name in ("_stepped_forward", "_stepped_backward"):
        function = getattr(compiled, name)
        monkeypatch.setattr(compiled, name, lambda *a, _f=function, _n=name: (
            taken.append(_n), _f(*a))[1])
    size = _units(reference, params, x.shape[1])
    for threshold, expected in ((size + 1, []),
                                (size, ["_stepped_forward", "_stepped_backward"])):
        taken.clear()
        monkeypatch.setattr(compiled, "STEPPED_FROM", threshold)
        _, _, cache = compiled.forward(params, x, state0)
        compiled.backward(params, cache, dy)
        assert taken == expected, threshold


def test_compiled_loops_run_with_one_blas_thread_and_restore_the_pools():
    """Inside a compiled loop every BLAS pool has one thread; after it (also after an error)
    each pool has the threads it had before, and not while another loop still runs."""
    pytest.importorskip("numba", reason=NEEDS_FAST)
    from threadpoolctl import threadpool_info

    from derive.targets.compiled import runtime

    def blas_threads():
        return [pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"]

    before, inside = blas_threads(), []

    def loop(fail):
        inside.append(blas_threads())
        if fail:
            raise ArithmeticError("stand-in")
        return 7

    wrapped = runtime.one_blas_thread(loop)
    assert wrapped(False) == 7 and blas_threads() == before
    with pytest.raises(ArithmeticError):
        wrapped(True)
    assert blas_threads() == before and inside == [[1] * len(before)] * 2 and before

    def outer():  # as when another thread's loop overlaps: restored when the last one ends
        wrapped(False)
        inside.append(blas_threads())
    runtime.one_blas_thread(outer)()
    assert inside[2:] == [[1] * len(before)] * 2 and blas_threads() == before


def test_vectorised_tanh_is_accurate_to_a_few_ulp():
    pytest.importorskip("numba", reason=NEEDS_FAST)
    from derive.targets.compiled.runtime import sigmoid, tanh
    x = numpy.concatenate([numpy.linspace(-30, 30, 200001), numpy.geomspace(1e-30, 1, 2000),
                           -numpy.geomspace(1e-30, 1, 2000), [0.0]])
    for dtype, ulps in (("float32", 6), ("float64", 3)):
        a = x.astype(dtype)
        exact = numpy.tanh(a.astype(numpy.longdouble))
        spacing = numpy.spacing(numpy.abs(exact).astype(dtype)).astype(numpy.longdouble)
        assert numpy.max(numpy.abs(tanh(a) - exact) / spacing) <= ulps, dtype
        logistic = 1 / (1 + numpy.exp(-a.astype(numpy.longdouble)))
        assert numpy.max(numpy.abs(sigmoid(a) - logistic)) <= 4 * numpy.finfo(dtype).eps


@pytest.mark.parametrize("method", ["central", "steps"])
def test_verify_check_target_compiled_passes(method):
    pytest.importorskip("numba", reason=NEEDS_FAST)
    result = run("-m", "verify", "check", "lstm", "--target", "compiled", "--method", method)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "PASS  lstm" in result.stdout


COMPILED_FAULTS = [
    Fault("flipped sign", "lstm", "_backward_run_1",
          r"\] = c_prev\[_i, _j, _k\]\*f", "] = -c_prev[_i, _j, _k]*f", "W_f"),
    Fault("gradient of the wrong time step", "lstm", "_stepped_backward",
          r"dy\[t\]", "dy[t - 1]", "W_o"),
    Fault("flipped sign", "lstm", "_backward_loop",
          r"\] = c_prev\[_i, _j, _k\]\*f", "] = -c_prev[_i, _j, _k]*f", "W_f"),
    Fault("gradient of the wrong time step", "lstm", "_backward_loop",
          r"dy\[t\]", "dy[t - 1]", "W_o"),
    Fault("transposed weight gradient", "lstm", "backward",
          r"'U_i': d_stack_h_prev\[0:D\]", "'U_i': d_stack_h_prev[0:D].T", "U_i"),
]
assert {f.name for f in COMPILED_FAULTS} <= {f.name for f in FAULTS}


@pytest.mark.parametrize("fault", COMPILED_FAULTS,
                         ids=[f"{f.name} in {f.function}" for f in COMPILED_FAULTS])
def test_fault_in_compiled_backward_is_caught(fault, tmp_path):
    """The mutation suite's faults, injected into the compiled module's backward (its NumPy
    path's and its kernels' with the module's threshold at 0, so the checks run that path)."""
    pytest.importorskip("numba", reason=NEEDS_FAST)
    source = (pipeline.GENERATED / "compiled" / f"{fault.cell}.py").read_text()
    start = source.index(f"\ndef {fault.function}(")
    end = source.find("\ndef ", start + 1)
    body, count = re.subn(fault.pattern, fault.replacement, source[start:end])
    assert count == 1
    source = source[:start] + body + source[end:]
    if fault.function.startswith(("_stepped_", "_backward_run_")):
        source, count = re.subn(r"\nSTEPPED_FROM = \d+\n", "\nSTEPPED_FROM = 0\n", source)
        assert count == 1
    path = tmp_path / f"{fault.cell}_mutant.py"
    path.write_text(source)
    report = tmp_path / "report.json"
    result = run("-m", "verify", "check", fault.cell, "--module", str(path), "--method",
                 fault.method, "--json", str(report))
    assert result.returncode == 1, result.stdout + result.stderr
    failing = {c["wrt"] for r in json.loads(report.read_text())["results"]
               for c in r["checks"] if not c["passed"]}
    assert fault.affected in failing


BLOCK_NUMBA = "import sys; sys.modules['numba'] = None; "


def test_printing_needs_no_numba_and_importing_names_the_extra(tmp_path):
    result = run("-c", BLOCK_NUMBA + "from derive.__main__ import main; sys.exit(main(["
                 f"'codegen', 'lstm', '--target', 'compiled', '--out', {str(tmp_path)!r}]))")
    assert result.returncode == 0, result.stderr
    text = (tmp_path / "lstm.py").read_text()
    assert text == pipeline.module_text(
        pipeline.derivation_of(pipeline.resolve_spec("lstm")), "compiled")
    assert "@numba.njit(**JIT)\ndef _forward_loop(" in text
    result = run("-c", BLOCK_NUMBA + "import derive.generated.compiled.lstm")
    assert result.returncode == 1
    assert "pip install -e '.[fast]'" in result.stderr


def test_compiled_loops_call_no_python_per_step():
    """Each time loop is a numba function: the Python functions hold no for loop."""
    text = (pipeline.GENERATED / "compiled" / "lstm.py").read_text()
    for function in ("forward", "backward"):
        start = text.index(f"\ndef {function}(")
        end = text.find("\ndef ", start + 1)
        assert "    for " not in text[start:end]
        assert f"_{function}_loop(" in text[start:end]


ALL_CELLS = sorted(p.stem for p in (pipeline.GENERATED / "compiled").glob("*.py")
                   if p.stem != "__init__")


@pytest.mark.parametrize("cell", ALL_CELLS)
def test_stepped_path_agrees_with_numpy_module_for_every_built_in_cell(cell, monkeypatch):
    """The stepped functions (their kernels' arguments and results read off the printed code)
    give the NumPy module's numbers for every built-in cell, with and without dy, over several
    blocks of the backward's partial derivatives."""
    reference, compiled = _modules(cell)
    monkeypatch.setattr(compiled, "STEPPED_FROM", 0)
    monkeypatch.setattr(compiled, "BLOCK_VALUES", 2 * 2 * 5)  # 2 steps a block of 7
    params, x, state0, dy = _problem(reference, "float64", T=7, B=2)
    outputs = []
    for module in (reference, compiled):
        y, state_T, cache = module.forward(params, x, state0)
        grads, dx, d_state0 = module.backward(params, cache, dy, state0)
        grads_no_dy, _, _ = module.backward(params, cache, None, state0)
        outputs.append([y, dx, *state_T.values(), *grads.values(), *d_state0.values(),
                        *grads_no_dy.values()])
    for ours, theirs in zip(*outputs):
        numpy.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("cell", ALL_CELLS)
def test_stepped_loops_leave_no_activation_to_numpy(cell):
    """In the stepped functions every activation runs in a compiled kernel (one call per run),
    and those kernels make no products, so they run without the BLAS-thread guard."""
    text = (pipeline.GENERATED / "compiled" / f"{cell}.py").read_text()
    for function in ("_stepped_forward", "_stepped_backward"):
        start = text.index(f"\ndef {function}(")
        code = [line.split("#")[0] for line in text[start:text.find("\ndef ", start + 1)]
                .split("\n")]
        assert not any(re.search(r"\b(tanh|sigmoid|exp|log)\(", line) for line in code)
        assert re.search(rf"_{function.removeprefix('_stepped_')}_run_1\(", "\n".join(code))
    for kernel in re.findall(r"\n(.*)\n@numba.njit\(\*\*JIT\)\ndef (_\w+_run_\d+)\(", text):
        assert kernel[0] != "@one_blas_thread", kernel[1]


def test_stepped_kernel_arguments_are_what_it_reads_before_binding():
    from derive.targets.compiled.stepped import _bound, _reads_first
    lines = ("a = seq_a[t]", "b = numpy.empty_like(a)", "for _i in range(b.shape[0]):",
             "    b[_i] = tanh(a[_i]) + c[_i]", "x = x + b", "y += b", "d = y")
    assert _reads_first(lines) == ("seq_a", "t", "c", "x", "y")
    assert _bound(lines) == ("a", "b", "x", "y", "d")


BUILTIN_NAMED = """
name = "rnn_builtin_names"
title = "a value and a parameter named like Python built-ins"
source = "test"
sizes = { M = "input_size", D = "hidden_size" }
input = { x = "M" }
state = { h = "D" }
output = "h"
equations = \"\"\"
pow = tanh(W @ x + U @ h_prev + round)
h = tanh(V @ pow) * pow
\"\"\"

[params]
W = ["D", "M"]
U = ["D", "D"]
round = ["D"]
V = ["D", "D"]
"""


@pytest.mark.parametrize("path", ["compiled loops", "stepped path"])
def test_names_of_python_built_ins_are_passed_to_the_kernels(path, write_spec, tmp_path):
    """A value named ``pow`` (bound in the loop) and a parameter named ``round`` (bound before
    it) are arguments of the kernels that read them, not taken for the built-ins."""
    pytest.importorskip("numba", reason=NEEDS_FAST)
    from derive.io.writer import write_all
    from verify.targets import import_file
    derivation = pipeline.derivation_of(write_spec(BUILTIN_NAMED))
    modules = []
    for target in ("numpy", "compiled"):
        artifact = pipeline.module_artifact(derivation, tmp_path / target, target)
        write_all([artifact])
        modules.append(import_file(artifact.path))
    reference, compiled = modules
    compiled.STEPPED_FROM = 0 if path == "stepped path" else 10**9
    params, x, state0, dy = _problem(reference, "float64")
    outputs = []
    for module in (reference, compiled):
        y, _, cache = module.forward(params, x, state0)
        grads, dx, _ = module.backward(params, cache, dy)
        outputs.append([y, dx, *grads.values()])
    for ours, theirs in zip(*outputs):
        numpy.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("cell", CELLS)
def test_stacked_maps_reach_the_per_step_products_row_major(cell, monkeypatch):
    """The stacked, transposed maps each step multiplies by are C-contiguous (their column-major
    transpose made OpenBLAS's small products 1.5 to 2.6 times slower)."""
    import inspect
    reference, compiled = _modules(cell)
    monkeypatch.setattr(compiled, "STEPPED_FROM", 10**9)
    params, x, state0, _ = _problem(reference, "float32")
    seen = {}
    loop = compiled._forward_loop
    names = list(inspect.signature(loop.__wrapped__.py_func).parameters)
    monkeypatch.setattr(compiled, "_forward_loop",
                        lambda *args: (seen.update(zip(names, args)), loop(*args))[1])
    compiled.forward(params, x, state0)
    stacks = {name: a for name, a in seen.items() if name.startswith("stack_")}
    assert stacks and all(a.flags.c_contiguous for a in stacks.values()), \
        {name: a.flags.c_contiguous for name, a in stacks.items()}


def test_a_compiled_module_checked_twice_loads_numba_cache(tmp_path):
    """numba caches a module's machine code beside it under the module's name: ``verify check
    --module`` gives a file the same name in every process, so the second check loads that
    cache instead of failing to import a name of the first process."""
    pytest.importorskip("numba", reason=NEEDS_FAST)
    copy = tmp_path / "lstm.py"
    copy.write_text((pipeline.GENERATED / "compiled" / "lstm.py").read_text())
    for _ in range(2):
        result = run("-m", "verify", "check", "lstm", "--module", str(copy), "--method", "steps")
        assert result.returncode == 0, result.stdout + result.stderr
    assert list((tmp_path / "__pycache__").glob("lstm.*.nbi"))


def test_a_module_file_in_a_package_is_imported_under_its_dotted_name():
    from verify.targets import _module_name
    path = (pipeline.GENERATED / "compiled" / "lstm.py").resolve()
    assert _module_name(path) == "derive.generated.compiled.lstm"
