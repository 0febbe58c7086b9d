"""The benchmark compares like with like: its hand-written baseline computes what the generated
lstm computes (the baseline is for timing only and never checks anything itself)."""

import numpy
import pytest

from conftest import generated
from verify.bench import handwritten_lstm, lstm_flops


def test_handwritten_baseline_computes_the_same_gradients():
    module = generated("lstm")
    rng = numpy.random.default_rng(0)
    params = module.init_params(5, 4, rng=rng)
    x, dy = rng.standard_normal((6, 3, 5)), rng.standard_normal((6, 3, 4))
    _, _, cache = module.forward(params, x)
    grads, dx, _ = module.backward(params, cache, dy)
    hand_grads, hand_dx = handwritten_lstm(params, x, dy)
    numpy.testing.assert_allclose(hand_dx, dx, rtol=1e-10, atol=1e-12)
    for k in params:
        numpy.testing.assert_allclose(hand_grads[k], grads[k], rtol=1e-10, atol=1e-12)


class Counting(numpy.ndarray):
    """An array that counts the flops (2·m·k·n each) of every matrix product it takes part in."""

    flops = 0

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        plain = [numpy.asarray(a) if isinstance(a, Counting) else a for a in inputs]
        if "out" in kwargs:
            kwargs["out"] = tuple(numpy.asarray(o) for o in kwargs["out"])
        if ufunc is numpy.matmul:
            a, b = plain[0], plain[1]
            Counting.flops += 2 * a.shape[-2] * a.shape[-1] * b.shape[-1]
        result = getattr(ufunc, method)(*plain, **kwargs)
        return result.view(Counting) if isinstance(result, numpy.ndarray) else result


def test_flop_count_is_the_matrix_products_the_baseline_takes():
    """lstm_flops against the products the hand-written forward and backward really compute,
    counted as they run, at sizes where no two dimensions coincide."""
    T, B, M, D = 3, 2, 5, 7
    rng = numpy.random.default_rng(0)
    params = {k: v.view(Counting) for k, v in generated("lstm").init_params(M, D, rng=rng).items()}
    x, dy = rng.standard_normal((T, B, M)).view(Counting), rng.standard_normal((T, B, D))
    Counting.flops = 0
    handwritten_lstm(params, x, dy)
    assert Counting.flops > 0 and lstm_flops(T, B, M, D) == Counting.flops


def test_the_compiled_bench_products_are_the_flops_of_the_schedule():
    """The products-alone runner (the bound on the fraction of peak) does lstm_flops, counted."""
    from verify.bench_compiled import _products_runner

    T, B, M, D = 3, 2, 5, 7
    Counting.flops = 0
    _products_runner(T, B, M, D, "float64", kind=Counting)()
    assert Counting.flops == lstm_flops(T, B, M, D)


def test_the_compiled_bench_says_which_path_ran(monkeypatch):
    """Not a timing test: one row below the module's threshold, one above, each saying which path
    the shipped module took; ``loops`` and ``stepped`` forced their path without changing the
    module."""
    pytest.importorskip("numba", reason="needs the fast extra: pip install -e '.[fast]'")
    from verify import bench, bench_compiled
    import derive.generated.compiled.lstm as compiled

    monkeypatch.setattr(bench, "SETTLE_SECONDS", 0.0)
    monkeypatch.setattr(bench_compiled, "_torch_runners", lambda M, D, dtype: None)
    monkeypatch.setattr(compiled, "STEPPED_FROM", 2 * 2 * 5)  # batch 2 x units 2*5
    ran = {"_stepped_forward": set(), "_forward_loop": set()}  # the batches each path ran
    for name, batches in ran.items():
        function = getattr(compiled, name)

        def counted(*args, _function=function, _batches=batches):
            _batches.add(next(a for a in args if getattr(a, "ndim", 0) == 3).shape[1])
            return _function(*args)
        monkeypatch.setattr(compiled, name, counted)
    rows = bench_compiled.bench_compiled(sizes=[(3, 1, 4, 5), (3, 2, 4, 5)], dtypes=("float64",),
                                         budget=0.01, cells=("lstm",))
    assert [r["path"] for r in rows] == ["loops", "stepped"]
    # below the threshold only the forced column runs the stepped path, above it only the
    # forced column runs the loops
    assert compiled.STEPPED_FROM == 20 and ran["_stepped_forward"] == ran["_forward_loop"] == {1, 2}
    assert all(r["seconds"][path] > 0 for r in rows for path in ("loops", "stepped"))
    text = bench_compiled.table(rows, {"cold": 1.0, "cached": 0.1})
    assert "3,1,4,5           loops" in text and "3,2,4,5           stepped" in text


def test_the_benchmark_runs_end_to_end_without_pytorch(monkeypatch, tmp_path):
    """Not a timing test: the figures are only checked for shape and sense."""
    from verify import bench

    monkeypatch.setattr(bench, "_torch_runners", lambda M, D, dtype: None)
    monkeypatch.setattr(bench, "SETTLE_SECONDS", 0.0)
    monkeypatch.setattr(bench, "_matmul_peak_runner", _small_peak)
    rows = bench.bench_lstm(sizes=[(3, 2, 4, 5)], dtypes=("float32",), budget=0.01)
    (row,) = rows
    # three rounds at least, two timed calls a block at least
    assert row["timed_calls"]["generated"] >= 6 and row["generated_over_pytorch"] is None
    assert set(row["seconds"]) == {"generated", "handwritten", "matmul_peak", "generated_beside_peak"}
    assert all(seconds > 0 for seconds in row["seconds"].values())
    # the fraction compares the two medians of one interleaved run: generated beside the peak
    seconds, flops = row["seconds"], bench.lstm_flops(3, 2, 4, 5)
    assert row["fraction_of_peak"] == pytest.approx(
        (flops / seconds["generated_beside_peak"]) / (2 * 64**3 / seconds["matmul_peak"]))
    text = bench.table(rows, [], torch_present=False, regen_seconds=1.0)
    assert "PyTorch is not installed" in text and "float32 3,2,4,5" in text


def test_blocks_settle_untimed_then_time_each_implementation_in_rotation(monkeypatch):
    """Each block calls its implementation untimed first, then times at least two calls; the
    order of the blocks rotates every round."""
    from verify import bench

    monkeypatch.setattr(bench, "SETTLE_SECONDS", 0.0)
    log = []
    runners = {"a": lambda: log.append("a"), "b": lambda: log.append("b")}
    times = bench._interleaved_times(runners, budget=0.0)
    assert {name: len(ts) for name, ts in times.items()} == {"a": 6, "b": 6}
    # per block: one untimed call, two timed; rounds a-b, b-a, a-b
    assert "".join(log) == "aaa" "bbb" "bbb" "aaa" "aaa" "bbb"


def test_aftermath_reports_each_interval_over_the_steady_one(monkeypatch):
    """Not a timing test: with a stand-in for PyTorch, every line names the order of the switch
    and has one figure per interval; without PyTorch it says so."""
    from verify import bench

    monkeypatch.setattr(bench, "AFTER_EDGES", (0.0, 0.002, 0.004))
    monkeypatch.setattr(bench, "_torch_runners", lambda M, D, dtype: None)
    assert bench.aftermath(sizes=[(3, 2, 4, 5)]) == ["PyTorch is not installed: nothing to measure"]
    stand_in = (lambda x, dy: numpy.tanh(x), None)
    monkeypatch.setattr(bench, "_torch_runners", lambda M, D, dtype: stand_in)
    head, *lines = bench.aftermath(sizes=[(3, 2, 4, 5)], rounds=2)
    assert "over that at 0.002-0.004 s" in head
    assert [line.split(":")[0] for line in lines] == ["3,2,4,5 pytorch after generated",
                                                       "3,2,4,5 generated after pytorch"]
    for line in lines:
        assert "0-2ms " in line and "2-4ms 1.00" in line and "(steady " in line


def _small_peak(dtype):
    a = numpy.ones((64, 64), dtype)
    return (lambda: a @ a), 2 * 64**3


def test_the_scaling_row_builds_fan_in_two_chains_of_the_named_length(tmp_path):
    from derive.spec.reader import parse_spec
    from verify.scaling import chain_spec

    for n in (4, 10):
        path = tmp_path / f"chain{n}.toml"
        path.write_text(chain_spec(n))
        cell = parse_spec(path)
        assert len(cell.equations) == n
        for eq in cell.equations[3:]:  # z_k reads the two equations before it, and o
            names = {s.name for s in eq.expr.free_symbols}
            k = cell.equations.index(eq)
            assert {cell.equations[k - 1].target, cell.equations[k - 2].target, "o"} <= names


def test_the_scaling_row_times_in_a_child_and_never_waits_past_its_limit():
    """A size over the limit is "> limit" and the larger ones are not run; one that finishes
    gives its seconds."""
    import time
    from verify import scaling

    start = time.perf_counter()
    rows = scaling.bench_scaling(counts=(10, 20), timeout=0.05)
    assert time.perf_counter() - start < 5
    assert [r["seconds"] for r in rows] == [None, "skipped"]
    assert scaling.table(rows)[2].split()[1:] == [">", "0.05", "s", "not", "run"]
    (row,) = scaling.bench_scaling(counts=(5,), timeout=120)
    assert isinstance(row["seconds"], float) and 0 < row["seconds"] < 120


def test_the_schedule_read_off_the_plan_makes_lstm_flops():
    """The products the GEMM sweep and the torch bench time, read off lstm's plan, are the flops
    counted from the hand-written baseline (dimensions that never coincide)."""
    from verify.gemm import schedule_products

    T, B, M, D = 3, 2, 5, 7
    products = schedule_products(T, B, {"input_size": M, "hidden_size": D})
    assert sum(2 * calls * m * k * n for calls, m, k, n in products) == lstm_flops(T, B, M, D)


class _FakeLibrary:
    """A BLAS that records each product's shape and the thread count it ran under."""

    def __init__(self):
        self.calls, self.threads = [], None

    def entry(self):
        import contextlib

        @contextlib.contextmanager
        def threads(count):
            self.threads = count
            yield
            self.threads = None
        return (lambda m, k, n, dtype: (m, k, n),
                lambda a, b, out: self.calls.append((a, b, out, self.threads)), threads)


def test_the_sweep_runs_each_product_as_often_as_the_schedule_under_each_thread_count(
        monkeypatch):
    from collections import Counter
    from verify import gemm

    fake = _FakeLibrary()
    monkeypatch.setattr(gemm, "libraries", lambda: {"fake": fake.entry()})
    monkeypatch.setattr(gemm, "_interleaved_times",
                        lambda runners, budget: {k: [run() or 1.0] for k, run in runners.items()})
    T, B, M, D = 4, 3, 5, 7
    gemm.sweep((T, B, M, D), "float64", None)
    expected = Counter()
    for calls, m, k, n in gemm.schedule_products(T, B, {"input_size": M, "hidden_size": D}):
        for threads in gemm.THREADS:
            expected[(m, k, n, threads)] += calls
    assert Counter(fake.calls) == expected


def test_the_sweep_best_takes_each_shape_at_its_fastest_library(monkeypatch):
    """Rates are flops over seconds; ``best`` sums, shape by shape, the fastest library's and
    thread count's time; ``best/nn`` divides by nn.LSTM's."""
    from verify import gemm

    fake = _FakeLibrary()
    monkeypatch.setattr(gemm, "libraries", lambda: {"a": fake.entry(), "b": fake.entry()})
    # seconds: library a is 1 s on one thread, b 2 s; on all threads a is 4 s, b 0.5 s
    seconds = {("a", 1): 1.0, ("b", 1): 2.0, ("a", None): 4.0, ("b", None): 0.5}
    monkeypatch.setattr(gemm, "_interleaved_times", lambda runners, budget: {
        key: [seconds[key[1], key[2]]] for key in runners})
    T, B, M, D = 4, 3, 5, 7
    result = gemm.sweep((T, B, M, D), "float32", 10.0)
    shapes = len(result["products"])
    assert result["best_seconds"] == 0.5 * shapes
    assert result["best_over_nn_lstm"] == 0.5 * shapes / 10.0
    assert result["nn_lstm_gflops"] == lstm_flops(T, B, M, D) / 10.0 / 1e9
    for row in result["products"]:
        m, k, n = row["shape"]
        flops = 2 * row["calls"] * m * k * n
        assert row["gflops"] == {"a 1": flops / 1e9, "b 1": flops / 2e9,
                                 "a all": flops / 4e9, "b all": flops / 0.5e9}
    assert "best/nn" in "\n".join(gemm.table([result]))


def test_one_thread_in_the_sweep_is_one_blas_thread_and_is_restored():
    pytest.importorskip("threadpoolctl")
    from threadpoolctl import threadpool_info
    from verify import gemm

    def blas_threads():
        return {p["filepath"]: p["num_threads"] for p in threadpool_info()
                if p["user_api"] == "blas"}
    before = blas_threads()
    with gemm._numpy_threads(1):
        assert set(blas_threads().values()) == {1}
    assert blas_threads() == before


class _Layouts(Counting):
    """Records, for every matrix product, whether both operands are row-major (C-contiguous)."""

    seen = []

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        if ufunc is numpy.matmul:
            _Layouts.seen.append((inputs[0].shape, all(numpy.asarray(a).flags.c_contiguous
                                                       for a in inputs[:2])))
        return super().__array_ufunc__(ufunc, method, *inputs, **kwargs)


def test_the_products_alone_take_their_per_step_operands_row_major_as_the_module_does():
    """The generated module's per-step products read row-major stacks (tests/test_compiled.py
    checks it); the bound must time the same layouts: OpenBLAS's small products with a
    column-major operand ran 1.5 to 2.6 times slower here."""
    from verify.bench_compiled import _products_runner

    T, B, M, D = 3, 2, 5, 7
    _Layouts.seen = []
    _products_runner(T, B, M, D, "float64", kind=_Layouts)()
    per_step = [row_major for shape, row_major in _Layouts.seen if shape[0] == B]
    assert len(per_step) == 2 * T and all(per_step)
