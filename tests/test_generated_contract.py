"""Generated modules keep their contract under hostile calls and unusual specs (issue 15's
generated-code cases), and code generation stays linear in the size of the spec."""

import re
import time

import numpy
import pytest

from conftest import ALL_CELLS, generated
from derive.io import pipeline
from derive.io.writer import write_all
from verify.targets import import_file


def problem(module, T=5, B=3, M=3, seed=0, dtype=numpy.float64):
    rng = numpy.random.default_rng(seed)
    params = module.init_params(M, 4, rng=rng, dtype=dtype, **_keywords(module))
    x = rng.standard_normal((T, B, M)).astype(dtype)
    return params, x, rng


def _keywords(module):
    return {kw: 2 for kw in module.SIZES.values() if kw not in ("input_size", "hidden_size")}


def build(write_spec, tmp_path, text):
    artifact = pipeline.module_artifact(pipeline.derivation_of(write_spec(text)), tmp_path / "out")
    write_all([artifact])
    return import_file(artifact.path), artifact.text


@pytest.mark.parametrize("name", ALL_CELLS)
def test_backward_with_an_empty_batch_works(name):
    module = generated(name)
    params, x, _ = problem(module, B=0)
    y, state, cache = module.forward(params, x)
    grads, dx, d_state0 = module.backward(params, cache, numpy.ones_like(y))
    assert dx.shape == x.shape
    for key, value in grads.items():
        numpy.testing.assert_array_equal(value, numpy.zeros_like(params[key]))


@pytest.mark.parametrize("name", ALL_CELLS)
def test_every_gradient_array_owns_its_memory(name):
    """An optimiser updating one gradient in place must change no other array."""
    module = generated(name)
    params, x, rng = problem(module)
    y, state, cache = module.forward(params, x)
    grads, dx, d_state0 = module.backward(params, cache, rng.standard_normal(y.shape))
    arrays = [("grads." + k, v) for k, v in grads.items()] + [("dx", dx)]
    arrays += [("d_state0." + k, v) for k, v in d_state0.items()]
    for j, (a, u) in enumerate(arrays):
        for b, v in arrays[j + 1:]:
            assert not numpy.shares_memory(u, v), f"{a} and {b} share memory"
        for p, w in params.items():
            assert not numpy.shares_memory(u, w), f"{a} shares memory with params[{p!r}]"


@pytest.mark.parametrize("name", ["lstm", "gru", "peephole"])
def test_block_size_is_read_at_call_time(name, monkeypatch):
    """BLOCK_VALUES, lowered, splits the backward into several blocks; nothing changes."""
    module = generated(name)
    params, x, rng = problem(module, T=7)
    y, state, cache = module.forward(params, x)
    dy = rng.standard_normal(y.shape)
    whole = module.backward(params, cache, dy)
    monkeypatch.setattr(module, "BLOCK_VALUES", 2 * 3 * 4)  # two steps of B=3, D=4 a block
    blocked = module.backward(params, cache, dy)
    for key in whole[0]:
        numpy.testing.assert_allclose(blocked[0][key], whole[0][key], rtol=1e-12, atol=1e-14)
    monkeypatch.setattr(module, "BLOCK_VALUES", 0)  # fewer values than a step: one step a block
    numpy.testing.assert_allclose(module.backward(params, cache, dy)[1], whole[1], rtol=1e-12)


@pytest.mark.parametrize("name", ALL_CELLS)
def test_unknown_state_names_are_refused(name):
    module = generated(name)
    params, x, _ = problem(module)
    y, state, cache = module.forward(params, x)
    bad = {"H": numpy.zeros_like(next(iter(state.values())))}
    with pytest.raises(ValueError, match=r"state0: unknown state\(s\) \['H'\]"):
        module.forward(params, x, bad)
    with pytest.raises(ValueError, match=r"d_state_T: unknown state\(s\) \['H'\]"):
        module.backward(params, cache, None, bad)


def _bad_calls(module, params, x, y, cache):
    M = x.shape[2]
    extra = {**params, "W_extra": params[next(iter(params))]}
    missing = {k: v for k, v in params.items() if k != next(iter(params))}
    first = next(iter(params))
    wrong = {**params, first: params[first][..., :-1] if params[first].ndim == 2
             else params[first][:-1]}
    state = next(iter(module.STATE))
    yield "x", ValueError, lambda: module.forward(params, x[0])
    yield "x", ValueError, lambda: module.forward(params, numpy.zeros(x.shape[:2] + (M + 1,)))
    yield "x", TypeError, lambda: module.forward(params, x.astype(int))
    yield "params", ValueError, lambda: module.forward(extra, x)
    yield "params", ValueError, lambda: module.forward(missing, x)
    yield f"params['{first}']", ValueError, lambda: module.forward(wrong, x)
    yield f"state0['{state}']", ValueError, lambda: module.forward(
        params, x, {state: numpy.zeros((x.shape[1] + 1, 4))})
    yield "dy", ValueError, lambda: module.backward(params, cache, y[:, :, :-1])
    yield "dy", ValueError, lambda: module.backward(params, cache, y[0])


@pytest.mark.parametrize("name", ["lstm", "gru", "lstmp", "fgr"])
def test_bad_arrays_are_refused_naming_the_argument_and_its_shape(name):
    module = generated(name)
    params, x, _ = problem(module)
    y, _, cache = module.forward(params, x)
    for argument, error, call in _bad_calls(module, params, x, y, cache):
        with pytest.raises(error) as info:
            call()
        message = str(info.value)
        assert message.startswith(argument), (argument, message)
        assert "expected" in message, message


NAMED_LIKE_A_SIZE = '''
name = "mgu_d"
title = "An MGU whose reset product is named like its size"
source = "test"
sizes = { M = "input_size", D = "hidden_size" }
input = { x = "M" }
state = { h = "D" }
output = "h"
equations = """
f = sigmoid(W_f @ x + U_f @ h_prev + b_f)
D = f * h_prev
h_tilde = tanh(W_h @ x + U_h @ D + b_h)
h = (1 - f) * h_prev + f * h_tilde
"""

[params]
W_f = ["D", "M"]
U_f = ["D", "D"]
b_f = ["D"]
W_h = ["D", "M"]
U_h = ["D", "D"]
b_h = ["D"]
'''


def test_an_equation_named_like_a_size_is_refused_with_its_location(write_spec, tmp_path):
    """The spec's one identifier check refuses it (issue 15, case 1), before any code exists."""
    from derive.errors import SpecError
    with pytest.raises(SpecError, match="'D' is a dimension") as caught:
        build(write_spec, tmp_path, NAMED_LIKE_A_SIZE)
    assert re.search(r"\.toml:\d+:1: error: 'D' is a dimension", caught.value.render())


def test_the_names_generated_modules_bind_are_exported():
    from derive.targets.bound import BOUND_NAMES
    module = generated("lstm")
    for name in ("BLOCK_VALUES", "numpy", "steps", "batch", "dtype", "xs", "kept", "sigmoid",
                 "init_params", "forward", "INPUT_DIM"):
        assert name in BOUND_NAMES
    globals_ = {n for n in vars(module) if not n.startswith("__")}
    assert globals_ - BOUND_NAMES <= {n for n in globals_ if n.startswith("_")}


def fan_in_chain(n: int) -> str:
    lines = ["o = sigmoid(V @ x)", "z1 = tanh(W @ x + U @ h_prev) * o",
             "z2 = tanh(z1 + W2 @ x) * o"]
    lines += [f"z{k} = tanh(z{k - 1} + z{k - 2}) * o" for k in range(3, n + 1)]
    lines.append(f"h = z{n}")
    equations = "\n".join(lines)
    return f'''
name = "chain"
title = "A chain of intermediates with fan-in two"
source = "test"
sizes = {{ M = "input_size", D = "hidden_size" }}
input = {{ x = "M" }}
state = {{ h = "D" }}
output = "h"
equations = """
{equations}
"""

[params]
W = ["D", "M"]
U = ["D", "D"]
W2 = ["D", "M"]
V = ["D", "M"]
'''


def test_code_generation_is_linear_in_the_number_of_equations(write_spec):
    """Adjoints reached by many paths are computed, not inlined: 40 equations of fan-in two
    took minutes when every path's product was merged into one coefficient."""
    from derive.targets.numpy.module import generate_module
    start = time.perf_counter()
    derivation = pipeline.derivation_of(write_spec(fan_in_chain(40)))
    source = generate_module(derivation)
    assert time.perf_counter() - start < 10
    assert len(source) < 200_000


def test_a_spec_past_the_size_limit_is_refused_before_any_work(write_spec):
    """150 equations each summing the previous 30: a located error, at once, never a hang."""
    from derive.__main__ import main
    from derive.ad.adjoint import MAX_TERMS
    text = fan_in_chain(150)
    body = "\n".join(f"z{k} = tanh(" + " + ".join(f"z{j}" for j in range(max(1, k - 30), k))
                     + ") * o" for k in range(3, 151))
    text = re.sub(r"z3 = .*?(?=\nh = )", body, text, flags=re.S)
    path = write_spec(text)
    start = time.perf_counter()
    with pytest.raises(Exception) as info:
        pipeline.derivation_of(path)
    assert time.perf_counter() - start < 5
    assert f"spec too large: more than {MAX_TERMS} terms" in str(info.value)
    assert str(info.value).startswith(f"{path}:")
    assert main(["codegen", str(path), "--out", str(path.parent / "out")]) == 2
