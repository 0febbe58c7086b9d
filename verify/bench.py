"""Benchmark: generated ``lstm`` forward + backward against a plain hand-written NumPy LSTM and,
when installed, PyTorch's CPU ``nn.LSTM``; all measured side by side in one run.

Implementations compared with each other (generated and hand-written; generated and PyTorch; the
generated code and a matrix-multiply peak) run in blocks, interleaved: a block calls one
implementation untimed for ``SETTLE_SECONDS``, then times its calls for about as long; the blocks
rotate through the implementations until the budget is spent, so a slow spell of this shared
machine hits each alike. Each figure is the median of an implementation's timed calls and results
are printed as ratios.

The untimed start of a block is there because both libraries leave threads spinning after a call,
and on a 2-core machine those slow whatever runs next: measured here, PyTorch ran up to 2.5x
slower for 0.1 to 0.15 s after a threaded OpenBLAS product (its idle worker spins that long), and
NumPy code ran slower for about 0.01 s after PyTorch (OpenMP); ``python -m verify bench --after``
measures it. Timing single calls alternately charged each library for the other's threads; the
blocks time each in its steady state, as in a training loop.

PyTorch's float32 LSTM runs oneDNN's fused LSTM kernel; it is also timed with oneDNN turned off
(ATen's own per-step kernels, which is what float64 always uses), reported beside the ratio.

``handwritten_lstm`` below is a timing baseline, the straightforward per-gate code a person would
write. It is not used to produce or check any gradient (that is the derivation's and
``gradcheck``'s job); a test only confirms it computes the same numbers as the generated code.
"""

from __future__ import annotations

import importlib
import json
import statistics
import time
import warnings

import numpy

from . import scaling

SIZES = [(50, 1, 32, 32), (50, 16, 64, 64), (100, 32, 128, 128), (100, 64, 256, 256)]
DTYPES = ("float64", "float32")


# -- the hand-written baseline (timing only) ------------------------------------------------------


def _sigmoid(a):
    return 0.5 * (1.0 + numpy.tanh(0.5 * a))


def handwritten_lstm(p, x, dy):
    """Forward and backward of the standard LSTM written by hand, per gate, h0 = c0 = 0."""
    T, B, _ = x.shape
    D = p["b_i"].shape[0]
    h, c = numpy.zeros((B, D), x.dtype), numpy.zeros((B, D), x.dtype)
    cache = []
    for t in range(T):
        i = _sigmoid(x[t] @ p["W_i"].T + h @ p["U_i"].T + p["b_i"])
        f = _sigmoid(x[t] @ p["W_f"].T + h @ p["U_f"].T + p["b_f"])
        g = numpy.tanh(x[t] @ p["W_c"].T + h @ p["U_c"].T + p["b_c"])
        o = _sigmoid(x[t] @ p["W_o"].T + h @ p["U_o"].T + p["b_o"])
        c_new = f * c + i * g
        tc = numpy.tanh(c_new)
        cache.append((h, c, i, f, g, o, tc))
        h, c = o * tc, c_new
    grads = {k: numpy.zeros_like(v) for k, v in p.items()}
    dx = numpy.zeros_like(x)
    dh, dc = numpy.zeros((B, D), x.dtype), numpy.zeros((B, D), x.dtype)
    for t in reversed(range(T)):
        h_prev, c_prev, i, f, g, o, tc = cache[t]
        dh = dh + dy[t]
        do = dh * tc
        dc = dc + dh * o * (1 - tc * tc)
        di, df, dg = dc * g, dc * c_prev, dc * i
        dc = dc * f
        pre = {"i": di * i * (1 - i), "f": df * f * (1 - f), "c": dg * (1 - g * g),
               "o": do * o * (1 - o)}
        dh = numpy.zeros_like(dh)
        for k, da in pre.items():
            grads[f"W_{k}"] += da.T @ x[t]
            grads[f"U_{k}"] += da.T @ h_prev
            grads[f"b_{k}"] += da.sum(axis=0)
            dx[t] += da @ p[f"W_{k}"]
            dh += da @ p[f"U_{k}"]
    return grads, dx


# -- the implementations under test ----------------------------------------------------------------


def _generated(module, params, x, dy):
    _, _, cache = module.forward(params, x)
    return module.backward(params, cache, dy)


def contract_runner(module, params, x, dy):
    """run() -> (grads, dx, d_state0): a module's contract forward then backward."""
    return lambda: _generated(module, params, x, dy)


class WithSetting:
    """``module`` with one of its module-level settings read at call time (the compiled
    modules' ``STEPPED_FROM``, the torch modules' ``FUSED``) at ``value`` during each call of
    its forward and backward, then restored."""

    def __init__(self, module, setting: str, value):
        self.module, self.setting, self.value = module, setting, value

    def forward(self, *args):
        return self._call(self.module.forward, args)

    def backward(self, *args):
        return self._call(self.module.backward, args)

    def _call(self, function, args):
        saved = getattr(self.module, self.setting)
        setattr(self.module, self.setting, self.value)
        try:
            return function(*args)
        finally:
            setattr(self.module, self.setting, saved)


def _torch_runners(M, D, dtype):
    """PyTorch's nn.LSTM as it runs by default and with oneDNN turned off; None without torch."""
    try:
        import torch
    except ImportError:
        return None
    torch_dtype = {"float64": torch.float64, "float32": torch.float32}[dtype]
    lstm = torch.nn.LSTM(M, D).to(torch_dtype)

    def run(x, dy):
        lstm.zero_grad()
        xt = torch.from_numpy(x).requires_grad_(True)
        out, _ = lstm(xt)
        out.backward(torch.from_numpy(dy))
        return xt.grad

    def run_without_onednn(x, dy):
        with warnings.catch_warnings():
            # torch warns that TF32 needs an Intel GPU whenever these flags are set
            warnings.simplefilter("ignore", UserWarning)
            with torch.backends.mkldnn.flags(enabled=False):
                return run(x, dy)

    return run, run_without_onednn


SETTLE_SECONDS = 0.2
"""A block's untimed calls, and about how long it then times: longer than the 0.1 to 0.15 s for
which OpenBLAS's idle worker thread, spinning after a threaded product, slowed PyTorch on this
machine (``aftermath``)."""


def _interleaved_times(runners: dict, budget: float) -> dict[str, list[float]]:
    """Blocks of calls to one implementation each, in an order rotated every round, for at
    least three rounds and until ``budget`` seconds have passed. A block first calls its
    implementation untimed for ``SETTLE_SECONDS`` (at least once): what the one before left
    spinning has stopped and its own threads and caches are warm. Then it times calls for about
    as long (at least two). Returns each implementation's timed calls, in seconds."""
    names = list(runners)
    times = {name: [] for name in names}
    start, rounds = time.perf_counter(), 0
    while rounds < 3 or time.perf_counter() - start < budget:
        k = rounds % len(names)
        for name in names[k:] + names[:k]:
            run = runners[name]
            settle = time.perf_counter()
            _time(run)
            while time.perf_counter() - settle < SETTLE_SECONDS:
                _time(run)
            timed, block = 0, time.perf_counter()
            while timed < 2 or time.perf_counter() - block < SETTLE_SECONDS:
                times[name].append(_time(run))
                timed += 1
        rounds += 1
    return times


def _medians(times: dict[str, list[float]]) -> dict[str, float]:
    return {name: statistics.median(ts) for name, ts in times.items()}


def _matmul_peak_runner(dtype: str, n: int = 1024):
    """An n×n by n×n product: its GFLOP/s is this machine's practical peak for the dtype.
    Returns (run, flops)."""
    rng = numpy.random.default_rng(0)
    a, b = rng.standard_normal((n, n)).astype(dtype), rng.standard_normal((n, n)).astype(dtype)
    return (lambda: a @ b), 2 * n**3


def _time(run) -> float:
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


AFTER_EDGES = (0.0, 0.01, 0.03, 0.1, 0.15, 0.3, 0.6)


def aftermath(sizes=SIZES[1:3], dtype: str = "float32", rounds: int = 5) -> list[str]:
    """How long one library's threads slow the other: after ``AFTER_EDGES[-1]`` seconds of
    calls to one implementation, the other's calls for as long, each filed by when it starts
    after the switch; per interval of ``AFTER_EDGES``, the median over that of the last
    interval. ``SETTLE_SECONDS`` is chosen from this. Needs PyTorch."""
    module = importlib.import_module("derive.generated.lstm")
    lines = [f"median call time by when it starts after the switch, over that at "
             f"{AFTER_EDGES[-2]:g}-{AFTER_EDGES[-1]:g} s ({dtype})"]
    for T, B, M, D in sizes:
        torch_runs = _torch_runners(M, D, dtype)
        if torch_runs is None:
            return ["PyTorch is not installed: nothing to measure"]
        rng = numpy.random.default_rng(0)
        params = module.init_params(M, D, rng=rng, dtype=dtype)
        x = rng.standard_normal((T, B, M)).astype(dtype)
        dy = rng.standard_normal((T, B, D)).astype(dtype)
        runners = {"generated": lambda: _generated(module, params, x, dy),
                   "pytorch": lambda: torch_runs[0](x, dy)}
        for before, after in (("generated", "pytorch"), ("pytorch", "generated")):
            by_interval = [[] for _ in AFTER_EDGES[1:]]
            for _ in range(rounds):
                start = time.perf_counter()
                while time.perf_counter() - start < AFTER_EDGES[-1]:
                    runners[before]()
                switch = time.perf_counter()
                while (since := time.perf_counter() - switch) < AFTER_EDGES[-1]:
                    k = max(i for i, edge in enumerate(AFTER_EDGES[:-1]) if since >= edge)
                    by_interval[k].append(_time(runners[after]))
            steady = statistics.median(by_interval[-1])
            cells = [f"{AFTER_EDGES[k] * 1e3:g}-{AFTER_EDGES[k + 1] * 1e3:g}ms "
                     + (f"{statistics.median(ts) / steady:.2f}" if ts else "-")
                     for k, ts in enumerate(by_interval)]
            lines.append(f"{T},{B},{M},{D} {after} after {before}: " + "  ".join(cells)
                         + f"  (steady {steady * 1e3:.2f} ms)")
    return lines


def lstm_flops(T, B, M, D) -> float:
    """Matrix-multiply flops of forward (2·B·4D·(M+D) a step) plus backward (twice that)."""
    return 3 * T * 2 * B * 4 * D * (M + D)


def bench_lstm(sizes=SIZES, dtypes=DTYPES, budget: float = 3.0) -> list[dict]:
    """``budget``: about how many seconds each side-by-side comparison takes (at least three
    rounds of blocks)."""
    module = importlib.import_module("derive.generated.lstm")
    rows = []
    for dtype in dtypes:
        peak_run, peak_flops = _matmul_peak_runner(dtype)
        for T, B, M, D in sizes:
            rng = numpy.random.default_rng(0)
            params = module.init_params(M, D, rng=rng, dtype=dtype)
            x = rng.standard_normal((T, B, M)).astype(dtype)
            dy = rng.standard_normal((T, B, D)).astype(dtype)
            def generated(params=params, x=x, dy=dy):
                return _generated(module, params, x, dy)

            def handwritten(params=params, x=x, dy=dy):
                return handwritten_lstm(params, x, dy)

            pair = _interleaved_times({"generated": generated, "handwritten": handwritten},
                                      budget)
            medians = _medians(pair)
            calls = {name: len(ts) for name, ts in pair.items()}
            # the matmul peak beside the generated code too, so the fraction of peak compares
            # two medians taken side by side
            peak_pair = _medians(_interleaved_times(
                {"generated": generated, "matmul_peak": peak_run}, budget))
            medians["matmul_peak"] = peak_pair["matmul_peak"]
            medians["generated_beside_peak"] = peak_pair["generated"]
            torch_runs = _torch_runners(M, D, dtype)
            if torch_runs is not None:
                run, run_without_onednn = torch_runs

                def pytorch(x=x, dy=dy):
                    return run(x, dy)

                def pytorch_without_onednn(x=x, dy=dy):
                    return run_without_onednn(x, dy)

                trio = _interleaved_times({"generated": generated, "pytorch": pytorch,
                                           "pytorch_without_onednn": pytorch_without_onednn},
                                          budget)
                calls["pytorch"] = len(trio["pytorch"])
                trio = _medians(trio)
                medians["pytorch"] = trio["pytorch"]
                medians["pytorch_without_onednn"] = trio["pytorch_without_onednn"]
                medians["generated_beside_pytorch"] = trio["generated"]
            # GFLOP/s of the generated code and of the peak, from the same interleaved run
            gflops = lstm_flops(T, B, M, D) / medians["generated_beside_peak"] / 1e9
            peak = peak_flops / medians["matmul_peak"] / 1e9
            rows.append({
                "dtype": dtype, "T": T, "B": B, "M": M, "D": D, "timed_calls": calls,
                "seconds": medians,
                "generated_over_handwritten": medians["generated"] / medians["handwritten"],
                "generated_over_pytorch": (medians["generated_beside_pytorch"] / medians["pytorch"]
                                           if "pytorch" in medians else None),
                "generated_gflops": gflops, "matmul_peak_gflops": peak,
                "fraction_of_peak": gflops / peak,
            })
    return rows


def bench_pipeline() -> list[dict]:
    """Per built-in cell: seconds to derive and print the module, and cached floats per step."""
    from derive.io import pipeline
    from verify.gradcheck import Sizes, make_problem

    rows = []
    for spec in pipeline.builtin_spec_paths():
        start = time.perf_counter()
        derivation = pipeline.derivation_of(spec)
        derived = time.perf_counter()
        artifact = pipeline.module_artifact(derivation, pipeline.GENERATED)
        printed = time.perf_counter()
        pipeline.doc_artifacts([derivation], pipeline.DOCS, comparison=False,
                               modules={derivation.cell.name: artifact.text})
        documented = time.perf_counter()
        module = importlib.import_module(f"derive.generated.{spec.stem}")
        problem = make_problem(module, Sizes(T=1, B=1, M=32, D=32), seed=0)
        params, x, state0 = problem.split(problem.arrays)
        _, _, cache = module.forward(params, x, state0)
        floats = sum(values[0].size for values in cache["kept"].values())
        rows.append({"cell": spec.stem, "derive_seconds": derived - start,
                     "codegen_seconds": printed - derived,
                     "docs_seconds": documented - printed,
                     "cache_floats_per_step_per_sample_M32_D32": floats,
                     "cached_values": list(cache["kept"])})
    return rows


def bench_regen() -> float:
    """Seconds for everything ``python -m derive regen`` renders (code and pages, no PDF), in a
    fresh process so no cache helps; nothing is written."""
    import subprocess
    import sys
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", "from derive.io import pipeline; pipeline.builtin_artifacts()"],
                   check=True)
    return time.perf_counter() - start


def table(lstm_rows: list[dict], pipeline_rows: list[dict], torch_present: bool,
          regen_seconds: float) -> str:
    lines = ["generated lstm forward+backward, side by side (median of timed calls in "
             "interleaved blocks);",
             "no oneDNN: PyTorch with oneDNN turned off (its float32 LSTM kernel; in no ratio)"]
    if not torch_present:
        lines.append("PyTorch is not installed: pip install torch (optional) to add its columns")
    lines.append("")
    head = (f"{'dtype':<8}{'T,B,M,D':<18}{'generated':>11}{'hand':>11}{'gen/hand':>10}"
            f"{'pytorch':>11}{'gen/torch':>10}{'no oneDNN':>11}{'GFLOP/s':>9}{'peak':>8}"
            f"{'of peak':>8}")
    lines.append(head)
    for r in lstm_rows:
        s = r["seconds"]
        torch_cols = (f"{s['pytorch'] * 1e3:>9.2f}ms{r['generated_over_pytorch']:>10.2f}"
                      f"{s['pytorch_without_onednn'] * 1e3:>9.2f}ms"
                      if "pytorch" in s else f"{'-':>11}{'-':>10}{'-':>11}")
        lines.append(
            f"{r['dtype']:<8}{'%d,%d,%d,%d' % (r['T'], r['B'], r['M'], r['D']):<18}"
            f"{s['generated'] * 1e3:>9.2f}ms{s['handwritten'] * 1e3:>9.2f}ms"
            f"{r['generated_over_handwritten']:>10.2f}{torch_cols}"
            f"{r['generated_gflops']:>9.1f}{r['matmul_peak_gflops']:>8.1f}"
            f"{r['fraction_of_peak']:>8.0%}")
    lines += ["", f"{'cell':<10}{'derive':>9}{'codegen':>9}{'docs':>9}"
                  "  cached floats/step/sample (M=D=32)"]
    for r in pipeline_rows:
        lines.append(f"{r['cell']:<10}{r['derive_seconds']:>8.2f}s{r['codegen_seconds']:>8.2f}s"
                     f"{r['docs_seconds']:>8.2f}s  {r['cache_floats_per_step_per_sample_M32_D32']}")
    lines += ["", f"python -m derive regen, every built-in cell (code, md/html/tex pages, "
                  f"comparison): {regen_seconds:.1f} s in a fresh process"]
    return "\n".join(lines) + "\n"


def main(json_path: str | None = None, quick: bool = False, after: bool = False) -> int:
    if after:
        print("\n".join(aftermath()))
        return 0
    sizes = SIZES[:2] if quick else SIZES
    lstm_rows = bench_lstm(sizes, budget=0.5 if quick else 3.0)
    pipeline_rows = bench_pipeline()
    regen_seconds = bench_regen()
    scaling_rows = scaling.bench_scaling()
    torch_present = any("pytorch" in r["seconds"] for r in lstm_rows)
    print(table(lstm_rows, pipeline_rows, torch_present, regen_seconds), end="")
    from . import bench_compiled
    compiled_table, compiled = bench_compiled.main(quick)
    print("\n" + compiled_table, end="")
    print("\n" + "\n".join(scaling.table(scaling_rows)))
    if json_path:
        with open(json_path, "w", encoding="utf-8") as stream:
            json.dump({"lstm": lstm_rows, "pipeline": pipeline_rows,
                       "regen_seconds": regen_seconds, "compiled": compiled,
                       "codegen_scaling": scaling_rows}, stream, indent=2)
    return 0
