"""Benchmark: generated ``lstm`` forward + backward against a plain hand-written NumPy LSTM and,
when installed, PyTorch's CPU ``nn.LSTM``; all measured side by side in one run.

Each pair (generated and hand-written; generated and PyTorch) is measured side by side: every
repetition runs both, in an order rotated each time, so a slow moment on this shared machine hits
both alike; the figure is the median over repetitions, and results are printed as ratios. The
pairs run separately because PyTorch leaves its OpenMP threads spinning after each call, which
would slow whatever NumPy code ran next on this 2-core machine. The matrix-multiply peak (a 1024²
product of the same dtype) is measured the same way, beside the generated code, so the fraction of
peak compares two medians taken side by side. PyTorch is also timed alone, call after call, which
keeps its threads hot: reported beside the ratios, never in them.

``handwritten_lstm`` below is a timing baseline, the straightforward per-gate code a person would
write. It is not used to produce or check any gradient (that is the derivation's and
``gradcheck``'s job); a test only confirms it computes the same numbers as the generated code.
"""

from __future__ import annotations

import importlib
import json
import statistics
import time

import numpy

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


def _torch_runner(M, D, dtype):
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

    return run


def _median_times(runners: dict, repetitions: int) -> dict:
    """Each repetition runs every implementation once, in an order rotated by one each time:
    whatever runs right after PyTorch meets its OpenMP threads still spinning on this 2-core
    machine, so a fixed order would charge that to one implementation."""
    names = list(runners)
    times = {name: [] for name in names}
    for repetition in range(repetitions):
        k = repetition % len(names)
        for name in names[k:] + names[:k]:
            start = time.perf_counter()
            runners[name]()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(ts) for name, ts in times.items()}


def _matmul_peak_runner(dtype: str, n: int = 1024):
    """An n×n by n×n product: its GFLOP/s is this machine's practical peak for the dtype.
    Returns (run, flops)."""
    rng = numpy.random.default_rng(0)
    a, b = rng.standard_normal((n, n)).astype(dtype), rng.standard_normal((n, n)).astype(dtype)
    return (lambda: a @ b), 2 * n**3


def _warm_up(run, seconds: float = 0.3) -> float:
    """Run until ``seconds`` have passed (at least 3 calls): this machine's clock and Python's
    specialising interpreter take a while to settle. Returns the time of the last call."""
    start, calls = time.perf_counter(), 0
    while calls < 3 or time.perf_counter() - start < seconds:
        last = _time(run)
        calls += 1
    return last


def _time(run) -> float:
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


def lstm_flops(T, B, M, D) -> float:
    """Matrix-multiply flops of forward (2·B·4D·(M+D) a step) plus backward (twice that)."""
    return 3 * T * 2 * B * 4 * D * (M + D)


def bench_lstm(sizes=SIZES, dtypes=DTYPES, budget: float = 3.0) -> list[dict]:
    """``budget``: about how many seconds each pair's interleaved repetitions take."""
    module = importlib.import_module("derive.generated.lstm")
    rows = []
    for dtype in dtypes:
        peak_run, peak_flops = _matmul_peak_runner(dtype)
        _warm_up(peak_run)
        for T, B, M, D in sizes:
            rng = numpy.random.default_rng(0)
            params = module.init_params(M, D, rng=rng, dtype=dtype)
            x = rng.standard_normal((T, B, M)).astype(dtype)
            dy = rng.standard_normal((T, B, D)).astype(dtype)
            def generated(params=params, x=x, dy=dy):
                return _generated(module, params, x, dy)

            def handwritten(params=params, x=x, dy=dy):
                return handwritten_lstm(params, x, dy)

            one = _warm_up(generated) + _warm_up(handwritten)
            repetitions = max(8, min(400, int(budget / max(one, 1e-9))))
            # each pair side by side, interleaved, in its own run of repetitions
            medians = _median_times({"generated": generated, "handwritten": handwritten},
                                    repetitions)
            # the matmul peak beside the generated code too, so a slow spell of this shared
            # machine hits both: the fraction of peak compares two medians taken side by side
            beside = max(8, min(repetitions, int(budget / (one + _time(peak_run)))))
            peak_pair = _median_times({"generated": generated, "matmul_peak": peak_run}, beside)
            medians["matmul_peak"] = peak_pair["matmul_peak"]
            medians["generated_beside_peak"] = peak_pair["generated"]
            torch_run = _torch_runner(M, D, dtype)
            if torch_run is not None:
                def pytorch(x=x, dy=dy):
                    return torch_run(x, dy)

                _warm_up(pytorch)
                pair = _median_times({"generated": generated, "pytorch": pytorch}, repetitions)
                medians["pytorch"] = pair["pytorch"]
                medians["generated_beside_pytorch"] = pair["generated"]
                # PyTorch alone, call after call: its worker threads stay hot, which no
                # interleaved measurement allows; reported beside the ratio, not in it
                medians["pytorch_back_to_back"] = _median_times({"p": pytorch}, repetitions)["p"]
            # GFLOP/s of the generated code and of the peak, from the same interleaved run
            gflops = lstm_flops(T, B, M, D) / medians["generated_beside_peak"] / 1e9
            peak = peak_flops / medians["matmul_peak"] / 1e9
            rows.append({
                "dtype": dtype, "T": T, "B": B, "M": M, "D": D, "repetitions": repetitions,
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
    from derive import pipeline
    from verify.gradcheck import Sizes, make_problem

    rows = []
    for spec in pipeline.builtin_spec_paths():
        start = time.perf_counter()
        derivation = pipeline.derivation_of(spec)
        derived = time.perf_counter()
        pipeline.module_artifact(derivation, pipeline.GENERATED)
        printed = time.perf_counter()
        pipeline.doc_artifacts([derivation], pipeline.DOCS, comparison=False)
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
    subprocess.run([sys.executable, "-c", "from derive import pipeline; pipeline.builtin_artifacts()"],
                   check=True)
    return time.perf_counter() - start


def table(lstm_rows: list[dict], pipeline_rows: list[dict], torch_present: bool,
          regen_seconds: float) -> str:
    lines = ["generated lstm forward+backward, side by side (median of interleaved repetitions);",
             "torch b2b: PyTorch alone, call after call (threads kept hot; not in any ratio)",
             "" if torch_present else "PyTorch is not installed: pip install torch (optional) "
                                      "to add the PyTorch column", ""]
    head = (f"{'dtype':<8}{'T,B,M,D':<18}{'generated':>11}{'hand':>11}{'gen/hand':>10}"
            f"{'pytorch':>11}{'gen/torch':>10}{'GFLOP/s':>9}{'peak':>8}{'of peak':>8}"
            f"{'torch b2b':>11}")
    lines.append(head)
    for r in lstm_rows:
        s = r["seconds"]
        torch_cols = (f"{s['pytorch'] * 1e3:>9.2f}ms{r['generated_over_pytorch']:>10.2f}"
                      if "pytorch" in s else f"{'-':>11}{'-':>10}")
        lines.append(
            f"{r['dtype']:<8}{'%d,%d,%d,%d' % (r['T'], r['B'], r['M'], r['D']):<18}"
            f"{s['generated'] * 1e3:>9.2f}ms{s['handwritten'] * 1e3:>9.2f}ms"
            f"{r['generated_over_handwritten']:>10.2f}{torch_cols}"
            f"{r['generated_gflops']:>9.1f}{r['matmul_peak_gflops']:>8.1f}"
            f"{r['fraction_of_peak']:>8.0%}"
            + (f"{s['pytorch_back_to_back'] * 1e3:>9.2f}ms" if "pytorch" in s else f"{'-':>11}"))
    lines += ["", f"{'cell':<10}{'derive':>9}{'codegen':>9}{'docs':>9}"
                  "  cached floats/step/sample (M=D=32)"]
    for r in pipeline_rows:
        lines.append(f"{r['cell']:<10}{r['derive_seconds']:>8.2f}s{r['codegen_seconds']:>8.2f}s"
                     f"{r['docs_seconds']:>8.2f}s  {r['cache_floats_per_step_per_sample_M32_D32']}")
    lines += ["", f"python -m derive regen, every built-in cell (code, md/html/tex pages, "
                  f"comparison): {regen_seconds:.1f} s in a fresh process"]
    return "\n".join(lines) + "\n"


def main(json_path: str | None = None, quick: bool = False) -> int:
    sizes = SIZES[:2] if quick else SIZES
    lstm_rows = bench_lstm(sizes, budget=0.5 if quick else 3.0)
    pipeline_rows = bench_pipeline()
    regen_seconds = bench_regen()
    torch_present = any("pytorch" in r["seconds"] for r in lstm_rows)
    print(table(lstm_rows, pipeline_rows, torch_present, regen_seconds), end="")
    if json_path:
        with open(json_path, "w", encoding="utf-8") as stream:
            json.dump({"lstm": lstm_rows, "pipeline": pipeline_rows,
                       "regen_seconds": regen_seconds}, stream, indent=2)
    return 0
