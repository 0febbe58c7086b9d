"""The whole catalogue through one parametrised end-to-end test, and hand-written references for
the cells outside the article (PyTorch's GRU, the projection LSTM)."""

import numpy
import pytest

from conftest import ALL_CELLS, generated, run
from derive.io import pipeline
from derive.spec.reader import parse_spec
from verify.gradcheck import Sizes, check, make_problem

GREFF = {"peephole", "nig", "nfg", "nog", "niaf", "noaf", "lstm", "cifg", "fgr"}


def test_catalogue_holds_the_twelve_named_cells():
    assert set(ALL_CELLS) == GREFF | {"gru", "gru_cho", "lstmp"}


@pytest.mark.parametrize("name", ALL_CELLS)
def test_every_cell_is_generated_and_passes_central_and_complex_checks(name):
    cell = parse_spec(pipeline.CELLS / f"{name}.toml")
    assert cell.source  # each cites where it comes from
    problem = make_problem(generated(name), Sizes(T=3, B=2, M=3, D=4), seed=5)
    for method, bound in (("central", 1e-7), ("complex", 1e-10)):
        result = check(problem, method)
        worst = max(result.checks, key=lambda c: c.normwise_rel_err)
        assert worst.normwise_rel_err <= bound, f"{name} {method} {worst.wrt}"


def sigma(a):
    return 1 / (1 + numpy.exp(-a))


def test_gru_matches_pytorchs_equations():
    module = generated("gru")
    rng = numpy.random.default_rng(0)
    p = module.init_params(3, 4, rng=rng)
    xs, h = rng.standard_normal((5, 2, 3)), rng.standard_normal((2, 4))
    y, _, _ = module.forward(p, xs, {"h": h})
    for t, x in enumerate(xs):  # torch.nn.GRU, documented form
        r = sigma(x @ p["W_r"].T + p["b_ir"] + h @ p["U_r"].T + p["b_hr"])
        z = sigma(x @ p["W_z"].T + p["b_iz"] + h @ p["U_z"].T + p["b_hz"])
        n = numpy.tanh(x @ p["W_n"].T + p["b_in"] + r * (h @ p["U_n"].T + p["b_hn"]))
        h = (1 - z) * n + z * h
        numpy.testing.assert_allclose(y[t], h, rtol=1e-12, atol=1e-14)


def test_projection_lstm_recurs_through_the_projection():
    module = generated("lstmp")
    rng = numpy.random.default_rng(1)
    p = module.init_params(3, 5, proj_size=2, rng=rng)
    assert p["W_p"].shape == (2, 5) and p["U_i"].shape == (5, 2)
    xs = rng.standard_normal((4, 2, 3))
    h, c = numpy.zeros((2, 2)), numpy.zeros((2, 5))
    y, state, _ = module.forward(p, xs)
    assert y.shape == (4, 2, 2) and state["c"].shape == (2, 5)
    for t, x in enumerate(xs):
        gate = lambda g: x @ p[f"W_{g}"].T + h @ p[f"U_{g}"].T + p[f"b_{g}"]
        c = sigma(gate("f")) * c + sigma(gate("i")) * numpy.tanh(gate("c"))
        h = (sigma(gate("o")) * numpy.tanh(c)) @ p["W_p"].T
        numpy.testing.assert_allclose(y[t], h, rtol=1e-12, atol=1e-14)


def test_full_gate_recurrence_carries_the_gates():
    module = generated("fgr")
    assert module.STATE == ("h", "c", "i", "f", "o")
    assert sum(1 for k in module.PARAMS if k.startswith("R_")) == 9


def test_new_copies_a_builtin_spec_under_a_new_name(tmp_path):
    result = run("-m", "derive", "new", "mygru", "--from", "gru", "--out", str(tmp_path))
    assert result.returncode == 0, result.stderr
    cell = parse_spec(tmp_path / "mygru.toml")
    assert cell.name == "mygru"
    assert cell.equations == parse_spec(pipeline.CELLS / "gru.toml").equations
    again = run("-m", "derive", "new", "mygru", "--from", "gru", "--out", str(tmp_path))
    assert again.returncode == 1 and "exists; not overwritten" in again.stderr


def test_user_workflow_codegen_check_end_to_end(tmp_path):
    made = run("-m", "derive", "new", "mine", "--from", "peephole", "--out", str(tmp_path))
    assert made.returncode == 0, made.stderr
    spec = tmp_path / "mine.toml"
    text = spec.read_text()
    assert text.count("h       = o * tanh(c) ") == 1
    spec.write_text(text.replace("h       = o * tanh(c) ", "h       = o * tanh(c) * 0.5 "))
    result = run("-m", "derive", "codegen", str(spec), "--out", str(tmp_path / "code"))
    assert result.returncode == 0, result.stderr
    # the edit took effect: from the same start, the first step's output is half peephole's
    from verify.targets import import_file
    mine, peephole = import_file(tmp_path / "code" / "mine.py"), generated("peephole")
    rng = numpy.random.default_rng(0)
    params = peephole.init_params(3, 4, rng=rng)
    xs, state0 = rng.standard_normal((2, 2, 3)), {"h": rng.standard_normal((2, 4)),
                                                   "c": rng.standard_normal((2, 4))}
    numpy.testing.assert_allclose(mine.forward(params, xs, state0)[0][0],
                                  0.5 * peephole.forward(params, xs, state0)[0][0], rtol=1e-13)
    result = run("-m", "verify", "check", str(spec), "--method", "complex")
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_documented_worked_example_works(tmp_path):
    """docs/spec-format.md's example spec, extracted from the page, goes through the workflow."""
    from conftest import ROOT
    page = (ROOT / "docs" / "spec-format.md").read_text()
    example = page.split("```toml\n", 1)[1].split("```", 1)[0]
    spec = tmp_path / "mgu.toml"
    spec.write_text(example)
    assert run("-m", "derive", "show", str(spec)).returncode == 0
    result = run("-m", "verify", "check", str(spec), "--method", "all")
    assert result.returncode == 0, result.stdout
