"""The generated torch modules, checked three independent ways: against the NumPy module and
the torch oracle (outputs and every gradient), by the project's 8 methods through the NumPy
contract, and by torch.autograd.gradcheck on the autograd.Function."""

import ast
import sys
from pathlib import Path

import numpy
import pytest

torch = pytest.importorskip("torch", reason="needs the torch extra: pip install -e '.[torch]'")

from conftest import ALL_CELLS, generated  # noqa: E402
from derive.io import pipeline  # noqa: E402
from derive.spec.reader import parse_spec  # noqa: E402
from torch_targets import sizes_of, torch_generated  # noqa: E402
from verify.gradcheck import METHODS, Sizes, check, make_problem, reference_sizes  # noqa: E402
from verify.torch_adapter import NumpyView  # noqa: E402
from verify.torch_oracle import OracleModule  # noqa: E402

SIZES = Sizes(T=4, B=3, M=3, D=4)


def _cell(name):
    return parse_spec(pipeline.resolve_spec(name))


def _problem(name, method, seed=0, dtype="float64"):
    """The problem the NumPy module is checked on (same draws), run on the torch module."""
    used = reference_sizes(SIZES) if method in ("forward", "exact") else SIZES
    problem = make_problem(generated(name), used, seed, dtype=dtype)
    problem.module = NumpyView(torch_generated(name))
    return problem


@pytest.mark.parametrize("name", ALL_CELLS)
def test_same_outputs_and_gradients_as_the_numpy_module_and_the_oracle(name):
    numpy_module = generated(name)
    problem = make_problem(numpy_module, SIZES, seed=3)
    params, x, state0 = problem.split(problem.arrays)
    expected_y, expected_state, _ = numpy_module.forward(params, x, state0)
    expected = problem.gradient(problem.arrays)
    for other in (NumpyView(torch_generated(name)), NumpyView(OracleModule(_cell(name)))):
        y, state_T, _ = other.forward(params, x, state0)
        numpy.testing.assert_allclose(y, expected_y, rtol=1e-12, atol=1e-14)
        for s in numpy_module.STATE:
            numpy.testing.assert_allclose(state_T[s], expected_state[s], rtol=1e-12, atol=1e-14)
        problem.module = other
        got = problem.gradient(problem.arrays)
        assert set(got) == set(expected)
        for k in expected:
            numpy.testing.assert_allclose(got[k], expected[k], rtol=1e-10, atol=1e-12,
                                          err_msg=f"{other.__name__}: {k}")


@pytest.mark.parametrize("name", ALL_CELLS)
@pytest.mark.parametrize("method", METHODS)
def test_the_eight_methods_pass_on_the_torch_module(name, method):
    result = check(_problem(name, method), method, "float64", _cell(name))
    assert result.passed, [(c.wrt, c.normwise_rel_err) for c in result.checks if not c.passed]
    assert result.module.endswith(f"derive/generated/torch/{name}.py")


@pytest.mark.parametrize("name", ["lstm", "gru", "lstmp", "peephole"])
@pytest.mark.parametrize("method", ["forward", "central", "complex", "steps"])
def test_float32_through_the_adapter(name, method):
    result = check(_problem(name, method, 1, "float32"), method, "float32", _cell(name))
    assert result.passed, [(c.wrt, c.normwise_rel_err) for c in result.checks if not c.passed]


def _function_inputs(module, name, seed=0):
    """(x, *state0, *params) for the autograd.Function, float64 leaves requiring grad."""
    problem = make_problem(generated(name), Sizes(T=3, B=2, M=3, D=3), seed=seed)
    params, x, state0 = problem.split(problem.arrays)
    tensors = [x] + [state0[s] for s in module.STATE] + [params[k] for k in module.PARAMS]
    return tuple(torch.from_numpy(t).requires_grad_(True) for t in tensors)


@pytest.mark.parametrize("name", ALL_CELLS)
@pytest.mark.parametrize("recompute", [False, True])
def test_torch_gradcheck_on_the_autograd_function(name, recompute):
    module = torch_generated(name)
    inputs = _function_inputs(module, name)

    def function(*tensors):
        return module.SequenceFunction.apply(recompute, *tensors)

    assert torch.autograd.gradcheck(function, inputs, eps=1e-6, atol=1e-8)


def test_the_function_is_once_differentiable_and_says_so():
    """Its backward reads values saved by a forward that autograd did not record: a second
    derivative through it would miss terms, so double backward raises instead (and
    gradgradcheck does not pass)."""
    module = torch_generated("lstm")
    inputs = _function_inputs(module, "lstm")
    y, *_ = module.SequenceFunction.apply(False, *inputs)
    dy = torch.ones_like(y, requires_grad=True)
    grads = torch.autograd.grad(y, inputs, dy, create_graph=True)
    with pytest.raises(RuntimeError, match="once_differentiable"):
        grads[-1].sum().backward()
    with pytest.raises(RuntimeError):
        torch.autograd.gradgradcheck(lambda *a: module.SequenceFunction.apply(False, *a), inputs)


@pytest.mark.parametrize("name", ["lstm", "gru", "fgr"])
def test_gradgradcheck_through_the_step_functions(name):
    """The step functions are plain torch operations: their second derivatives exist, and the
    derived step backward's own derivative agrees with finite differences of it."""
    module = torch_generated(name)
    problem = make_problem(generated(name), Sizes(T=1, B=2, M=2, D=2), seed=2)
    params, x, state0 = problem.split(problem.arrays)
    names = list(module.PARAMS)

    def step(x_t, *values):
        p = dict(zip(names, values[len(module.STATE):]))
        state = dict(zip(module.STATE, values[:len(module.STATE)]))
        state_new, _ = module.step_forward(p, x_t, state)
        return tuple(state_new[s] for s in module.STATE)

    def step_grad(x_t, *values):
        p = dict(zip(names, values[len(module.STATE):]))
        state = dict(zip(module.STATE, values[:len(module.STATE)]))
        _, cache = module.step_forward(p, x_t, state)
        ones = {s: torch.ones_like(state[s]) for s in module.STATE}
        grads, dx, d_state = module.step_backward(p, cache, ones)
        return (dx, *[d_state[s] for s in module.STATE], *[grads[k] for k in names])

    leaves = [torch.from_numpy(x[0])] + [torch.from_numpy(state0[s]) for s in module.STATE]
    leaves += [torch.from_numpy(params[k]) for k in names]
    leaves = tuple(v.clone().requires_grad_(True) for v in leaves)
    assert torch.autograd.gradgradcheck(step, leaves)
    assert torch.autograd.gradcheck(step_grad, leaves)


def test_the_forward_saves_only_what_the_backward_reads():
    """Saved for the backward: the CACHE values (views of the forward's own buffers), the input
    and the parameters; nothing per step is copied (bytes counted through saved-tensor hooks)."""
    from verify.torch_bench import saved_bytes

    module = torch_generated("lstm")
    T, B, M, D = 20, 4, 3, 5
    cell = module.Cell(M, D).double()
    x = torch.randn(T, B, M, dtype=torch.float64, requires_grad=True)
    held = saved_bytes(cell, x)
    params = sum(p.numel() for p in cell.parameters())
    # h, c over T+1 steps, the four gates over T, x, the parameters; float64
    expected = 8 * (2 * (T + 1) * B * D + T * B * 4 * D + T * B * M + params)
    assert held == expected
    # with recompute: h and c over T+1 steps, x, the parameters
    cell.recompute = True
    assert saved_bytes(cell, x) == 8 * (2 * (T + 1) * B * D + T * B * M + params)


def _cell_sizes(module):
    """Distinct small sizes for every size keyword of a Cell, and each state's size."""
    sizes = {kw: n for n, kw in zip((3, 4, 2, 5), module.SIZES.values())}
    return sizes, {s: sizes[module.SIZES[d]] for s, d in module.STATE_DIMS.items()}


@pytest.mark.parametrize("name", ALL_CELLS)
def test_recompute_gives_the_same_outputs_and_every_gradient(name):
    """A recompute=True Cell (its backward recomputes what the default Cell saves, from the
    states alone) against the default Cell with the same parameters."""
    module = torch_generated(name)
    sizes, state_sizes = _cell_sizes(module)
    generator = torch.Generator().manual_seed(5)
    x = torch.randn(6, 2, sizes["input_size"], generator=generator, dtype=torch.float64)
    state0 = {s: torch.randn(2, n, generator=generator, dtype=torch.float64)
              for s, n in state_sizes.items()}
    results = []
    for recompute in (False, True):
        torch.manual_seed(0)
        cell = module.Cell(**sizes, recompute=recompute, dtype=torch.float64)
        leaves = [x.clone().requires_grad_(True)] + [v.clone().requires_grad_(True)
                                                     for v in state0.values()]
        y, state_T = cell(leaves[0], dict(zip(state0, leaves[1:])))
        (y.sin().sum() + sum(v.square().sum() for v in state_T.values())).backward()
        results.append([y, *state_T.values()] + [v.grad for v in leaves]
                       + [p.grad for p in cell.parameters()])
    assert len(results[1]) == 1 + 2 * len(state0) + 1 + len(module.PARAMS)
    for plain, recomputed in zip(*results):
        torch.testing.assert_close(recomputed, plain, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("name", ALL_CELLS)
def test_recompute_gives_back_what_the_forward_keeps(name):
    """recompute, from the forward's input and the state values it names, gives every value of
    cache['kept'] again (up to the rounding of products taken over all rows at once)."""
    module = torch_generated(name)
    problem = make_problem(generated(name), Sizes(T=5, B=3, M=3, D=4), seed=6)
    params, x, state0 = problem.split(problem.arrays)
    params = {k: torch.from_numpy(v) for k, v in params.items()}
    x, state0 = torch.from_numpy(x), {s: torch.from_numpy(v) for s, v in state0.items()}
    _, _, cache = module.forward(params, x, state0)
    kept = cache["kept"]
    states = {n: kept[n] for n in module.RECOMPUTE_READS}
    assert set(module.RECOMPUTE_READS) < set(kept)  # something is recomputed
    again = module.recompute(params, x, states)
    assert list(again) == list(kept) == list(module.CACHE)
    for n in kept:
        torch.testing.assert_close(again[n], kept[n], rtol=1e-12, atol=1e-14, msg=n)


@pytest.mark.parametrize("name", ALL_CELLS)
@pytest.mark.parametrize("recompute", [False, True])
def test_forward_and_backward_run_on_the_input_s_device(name, recompute):
    """The meta device (shapes only, no data) stands in for a GPU: a tensor the module makes on
    the CPU meets the meta input and raises, and so does a value read back to the host (a GPU
    sync each call), such as a length computed from a tensor."""
    module = torch_generated(name)
    sizes, state_sizes = _cell_sizes(module)
    cell = module.Cell(**sizes, recompute=recompute, device="meta", dtype=torch.float64)
    x = torch.empty(6, 2, sizes["input_size"], device="meta", dtype=torch.float64,
                    requires_grad=True)
    y, state_T = cell(x, {s: torch.empty(2, n, device="meta", dtype=torch.float64)
                          for s, n in state_sizes.items()})
    (y.sum() + sum(v.sum() for v in state_T.values())).backward()
    assert y.device.type == x.grad.device.type == "meta" and x.grad.shape == x.shape
    assert all(p.grad is not None and p.grad.device.type == "meta" for p in cell.parameters())


def test_recompute_refuses_a_cell_whose_forward_does_not_keep_what_it_reads(monkeypatch):
    module = torch_generated("nfg")
    monkeypatch.setattr(module, "RECOMPUTE_READS", module.RECOMPUTE_READS + ("c_prev",))
    with pytest.raises(ValueError, match=r"recompute=True: nfg .*\['c_prev'\]"):
        module.Cell(3, 4, recompute=True)
    module.Cell(3, 4)  # the default saves what the backward reads, and needs no more


def test_generated_torch_modules_import_only_torch():
    for path in sorted((pipeline.GENERATED / "torch").glob("*.py")):
        tree = ast.parse(path.read_text("utf-8"))
        imported = {alias.name.split(".")[0] for node in ast.walk(tree)
                    if isinstance(node, ast.Import) for alias in node.names}
        imported |= {node.module.split(".")[0] for node in ast.walk(tree)
                     if isinstance(node, ast.ImportFrom) and node.module}
        # torch, and the standard library's hashlib, subprocess and warnings (building the fused
        # kernels): nothing of gatecalc, no numpy
        assert imported - set(sys.stdlib_module_names) <= {"torch"}, (path.name, imported)


def test_every_built_in_cell_has_a_torch_module():
    folder = Path(pipeline.GENERATED) / "torch"
    assert sorted(p.stem for p in folder.glob("*.py") if p.stem != "__init__") == list(ALL_CELLS)


@pytest.mark.parametrize("name", ALL_CELLS)
def test_the_step_functions_agree_with_numpys(name):
    numpy_module, module = generated(name), torch_generated(name)
    problem = make_problem(numpy_module, Sizes(T=1, B=3, M=3, D=4), seed=4)
    params, x, state0 = problem.split(problem.arrays)
    state_new, cache = numpy_module.step_forward(params, x[0], state0)
    grads, dx, d_state = numpy_module.step_backward(params, cache, problem.weights_state)
    view = NumpyView(module)
    state_new_t, cache_t = view.step_forward(params, x[0], state0)
    grads_t, dx_t, d_state_t = view.step_backward(params, cache_t, problem.weights_state)
    for s in module.STATE:
        numpy.testing.assert_allclose(state_new_t[s], state_new[s], rtol=1e-12, atol=1e-14)
        numpy.testing.assert_allclose(d_state_t[s], d_state[s], rtol=1e-12, atol=1e-14)
    numpy.testing.assert_allclose(dx_t, dx, rtol=1e-12, atol=1e-14)
    for k in params:
        numpy.testing.assert_allclose(grads_t[k], grads[k], rtol=1e-12, atol=1e-14, err_msg=k)


def test_cell_parameters_are_named_and_initialised_as_init_params():
    module = torch_generated("lstm")
    torch.manual_seed(0)
    cell = module.Cell(5, 8)
    assert [k for k, _ in cell.named_parameters()] == list(module.PARAMS)
    assert all(p.dtype == torch.float32 for p in cell.parameters())
    assert torch.equal(cell.b_f, torch.ones(8))  # forget-gate bias 1
    bound = 1 / 8**0.5
    for k, p in cell.named_parameters():
        assert tuple(p.shape) == {"W": (8, 5), "U": (8, 8), "b": (8,)}[k[0]]
        if k != "b_f":
            assert p.abs().max() <= bound and (p.dim() == 1 or p.std() > bound / 3), k
    lstmp = torch_generated("lstmp").Cell(5, 8, proj_size=3)
    assert lstmp.W_p.shape == (3, 8) and lstmp.U_i.shape == (8, 3)


def test_init_params_matches_the_cell_and_is_reproducible():
    module = torch_generated("gru")
    a = module.init_params(3, 4, generator=torch.Generator().manual_seed(7))
    b = module.init_params(3, 4, generator=torch.Generator().manual_seed(7))
    assert list(a) == list(module.PARAMS) and all(torch.equal(a[k], b[k]) for k in a)
    assert all(v.dtype == torch.float64 for v in a.values())


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_cell_runs_batch_first_and_without_state(dtype):
    module = torch_generated("lstmp")
    torch.manual_seed(0)
    cell = module.Cell(3, 5, proj_size=2, batch_first=True).to(dtype)
    x = torch.randn(4, 6, 3, dtype=dtype)  # (B, T, M)
    y, state = cell(x)
    assert y.shape == (4, 6, 2) and y.dtype == dtype
    assert state["h"].shape == (4, 2) and state["c"].shape == (4, 5)
    time_major = module.Cell(3, 5, proj_size=2).to(dtype)
    time_major.load_state_dict(cell.state_dict())
    y_t, state_t = time_major(x.transpose(0, 1), {"h": torch.zeros(4, 2, dtype=dtype)})
    torch.testing.assert_close(y, y_t.transpose(0, 1))
    torch.testing.assert_close(state["c"], state_t["c"])


def test_cell_gradients_reach_every_parameter_the_input_and_the_state():
    module = torch_generated("gru")
    cell = module.Cell(3, 4).double()
    x = torch.randn(5, 2, 3, dtype=torch.float64, requires_grad=True)
    h0 = torch.randn(2, 4, dtype=torch.float64, requires_grad=True)
    y, state = cell(x, {"h": h0})
    (y.sum() + state["h"].sum()).backward()
    assert x.grad is not None and h0.grad is not None
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in cell.parameters())
    assert sizes_of(module, dict(cell.named_parameters()), x) == {"input_size": 3,
                                                                  "hidden_size": 4}


def test_codegen_target_torch_writes_the_committed_module(tmp_path):
    from conftest import run

    result = run("-m", "derive", "codegen", "derive/cells/gru.toml", "--target", "torch",
                 "--out", str(tmp_path))
    assert result.returncode == 0, result.stderr
    written = (tmp_path / "gru.py").read_text("utf-8")
    assert written == (pipeline.GENERATED / "torch" / "gru.py").read_text("utf-8")


def test_torch_modules_are_formatted_to_100_columns():
    for path in sorted((pipeline.GENERATED / "torch").glob("[!_]*.py")):
        long = [line for line in path.read_text("utf-8").splitlines() if len(line) > 100]
        assert not long, f"{path.name}: {long[0]}"


@pytest.mark.parametrize("name", ["lstm", "gru", "peephole"])
@pytest.mark.parametrize("recompute", [False, True])
def test_torch_gradcheck_in_complex128(name, recompute):
    """Complex: torch's convention (the conjugate of the holomorphic derivative) is met."""
    module = torch_generated(name)
    generator = torch.Generator().manual_seed(0)
    params = module.init_params(2, 3, generator=generator, dtype=torch.complex128)
    x = torch.randn(3, 2, 2, dtype=torch.complex128, generator=generator)
    state0 = [torch.randn(2, 3, dtype=torch.complex128, generator=generator)
              for _ in module.STATE]
    inputs = tuple(t.clone().requires_grad_(True) for t in [x, *state0, *params.values()])

    def function(*tensors):
        return module.SequenceFunction.apply(recompute, *tensors)

    assert torch.autograd.gradcheck(function, inputs, eps=1e-6, atol=1e-7)
