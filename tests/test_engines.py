"""The engine comparison (``python -m verify engines``) runs the generated engines and checks
each against the NumPy module before timing it."""

import numpy
import pytest

pytest.importorskip("numba", reason="needs the fast extra: pip install -e '.[fast]'")

from verify import engines  # noqa: E402


def _problem(dtype="float64"):
    from derive.generated import lstm
    rng = numpy.random.default_rng(3)
    params = lstm.init_params(3, 4, rng=rng, dtype=dtype)
    return params, rng.standard_normal((5, 2, 3)).astype(dtype), rng.standard_normal((5, 2, 4))


def test_every_engine_agrees_with_the_numpy_module_and_is_timed(monkeypatch):
    from verify import bench
    monkeypatch.setattr(bench, "SETTLE_SECONDS", 0.0)
    rows = engines.compare(sizes=[(5, 2, 3, 4)], dtypes=("float64",), budget=0.01)
    (row,) = rows
    assert {"compiled_loops", "compiled_stepped"} <= set(row["agrees_with_numpy_module"])
    assert all(row["agrees_with_numpy_module"].values())
    assert set(row["seconds"]) == {"numpy", *row["agrees_with_numpy_module"]} | (
        {"pytorch"} if "torch_ops" in row["seconds"] else set())
    assert "all engines agree" in engines.table(rows)


def test_the_forced_paths_are_the_ones_asked_for_and_the_setting_is_restored():
    from derive.generated.compiled import lstm
    from verify import bench
    calls = []
    params, x, dy = _problem()
    saved = lstm.STEPPED_FROM
    for threshold, path in ((0, True), (float("inf"), False)):
        forced = bench.WithSetting(lstm, "STEPPED_FROM", threshold)
        original = lstm._stepped_path
        lstm._stepped_path = lambda p, b: calls.append(original(p, b)) or calls[-1]
        try:
            bench.contract_runner(forced, params, x, dy)()
        finally:
            lstm._stepped_path = original
        assert calls[-2:] == [path, path] and lstm.STEPPED_FROM == saved


@pytest.mark.parametrize("wrong", ["dx", "W_o", "c"])
def test_a_wrong_gradient_disagrees(wrong):
    params, x, dy = _problem()
    run = engines._engines(params, x, dy)["compiled_loops"]
    reference = engines._engines(params, x, dy)["numpy"]()
    grads, dx, d_state0 = run()
    assert engines._agrees((grads, dx, d_state0), reference, "float64")
    if wrong == "dx":
        dx = dx * (1 + 1e-6)
    elif wrong in grads:
        grads = {**grads, wrong: grads[wrong] + 1e-6}
    else:
        d_state0 = {**d_state0, wrong: d_state0[wrong] * 1.01}
    assert not engines._agrees((grads, dx, d_state0), reference, "float64")
