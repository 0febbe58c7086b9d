"""The compiled column of ``python -m verify bench``: each bench cell's compiled module against
its NumPy module and, for lstm, PyTorch's ``nn.LSTM`` (default settings, oneDNN on), side by side
in the interleaved steady-state blocks of ``bench``; the fraction of the matrix-multiply peak at
the largest size; and the first call's compile time, cold and from numba's cache.

``compiled`` is the module as it ships: its compiled loops below its threshold (``STEPPED_FROM``
values a step), its stepped path from there on (the ``path`` column says which ran). ``loops``
and ``stepped`` are the same module with one path forced at every size, so one run shows where
the threshold belongs. ``products`` (lstm) times the matrix products of the schedule alone
(NumPy's, the same shapes): beside ``nn.LSTM`` (``mm/torch``) and, at the largest size, beside
the matrix-multiply peak, it bounds any schedule that makes them. After the table, the GEMM
sweep (``verify/gemm.py``): each of those products alone in NumPy's and PyTorch's BLAS, on one
thread and on both, beside ``nn.LSTM``'s overall rate.

Threads: the compiled loops run on one thread (numba, no ``parallel``); their products call
scipy's OpenBLAS (``numpy.dot`` in numba), whose pool uses both cores where the shape pays,
and NumPy's products use NumPy's OpenBLAS likewise. Per-step numba threads were measured to
fight OpenBLAS's over two cores (see the README), so none are used.
"""

from __future__ import annotations

import importlib
import subprocess
import sys
import tempfile
import time

import numpy

from . import gemm
from .bench import (DTYPES, SIZES, WithSetting, _interleaved_times, _matmul_peak_runner,
                    _medians, _torch_runners, contract_runner, lstm_flops)

CELLS = ("lstm", "gru", "peephole")


def available() -> bool:
    try:
        import numba  # noqa: F401
    except ImportError:
        return False
    return True


def _products_runner(T, B, M, D, dtype, kind=numpy.ndarray):
    """The lstm schedule's matrix products alone (NumPy, preallocated operands laid out as the
    generated module lays out its stacked matrices: row-major, and a second row-major copy for the
    backward's products): the input's maps for all steps, a recurrent product a step, the
    adjoint's product a step, then the weight gradients and the input's adjoint over all steps;
    ``lstm_flops`` in all. ``kind``: the array class (a test counts the flops through one)."""
    rng = numpy.random.default_rng(0)
    xs, h, W, U, W_back, U_back = (
        rng.standard_normal(shape).astype(dtype).view(kind) for shape in
        ((T * B, M), (T, B, D), (M, 4 * D), (D, 4 * D), (4 * D, M), (4 * D, D)))
    maps, step, back = (numpy.empty(shape, dtype).view(kind) for shape in
                        ((T * B, 4 * D), (B, 4 * D), (B, D)))

    def run():
        numpy.matmul(xs, W, out=maps)
        for t in range(T):
            numpy.matmul(h[t], U, out=step)
        for t in range(T):
            numpy.matmul(maps[t * B:(t + 1) * B], U_back, out=back)
        return maps.T @ xs, maps @ W_back, maps.T @ h.reshape(T * B, D)
    return run


def _row(cell, compiled, numpy_module, dtype, size, budget) -> dict:
    T, B, M, D = size
    rng = numpy.random.default_rng(0)
    params = numpy_module.init_params(M, D, rng=rng, dtype=dtype)
    x = rng.standard_normal((T, B, M)).astype(dtype)
    dy = rng.standard_normal((T, B, D)).astype(dtype)
    runners = {"compiled": contract_runner(compiled, params, x, dy),
               "loops": contract_runner(WithSetting(compiled, "STEPPED_FROM", float("inf")),
                                        params, x, dy),
               "stepped": contract_runner(WithSetting(compiled, "STEPPED_FROM", 0), params, x, dy),
               "numpy": contract_runner(numpy_module, params, x, dy)}
    torch_runs = _torch_runners(M, D, dtype) if cell == "lstm" else None
    if torch_runs is not None:
        runners["pytorch"] = lambda: torch_runs[0](x, dy)
    if cell == "lstm":
        runners["products"] = _products_runner(T, B, M, D, dtype)
    if cell == "lstm" and size == SIZES[-1]:
        runners["matmul_peak"] = _matmul_peak_runner(dtype)[0]
    seconds = _medians(_interleaved_times(runners, budget))
    row = {"cell": cell, "dtype": dtype, "T": T, "B": B, "M": M, "D": D, "seconds": seconds,
           "path": "stepped" if compiled._stepped_path(params, B) else "loops",
           "compiled_over_numpy": seconds["compiled"] / seconds["numpy"],
           "loops_over_numpy": seconds["loops"] / seconds["numpy"],
           "stepped_over_numpy": seconds["stepped"] / seconds["numpy"]}
    if "pytorch" in seconds:
        row["compiled_over_pytorch"] = seconds["compiled"] / seconds["pytorch"]
        row["products_over_pytorch"] = seconds["products"] / seconds["pytorch"]
    if "matmul_peak" in seconds:
        peak = _matmul_peak_runner(dtype)[1] / seconds["matmul_peak"]
        row["fraction_of_peak"] = lstm_flops(T, B, M, D) / seconds["compiled"] / peak
        row["products_fraction_of_peak"] = lstm_flops(T, B, M, D) / seconds["products"] / peak
    return row


def bench_compiled(sizes=SIZES, dtypes=DTYPES, budget: float = 3.0, cells=CELLS) -> list[dict]:
    rows = []
    for cell in cells:
        numpy_module = importlib.import_module(f"derive.generated.{cell}")
        compiled = importlib.import_module(f"derive.generated.compiled.{cell}")
        for dtype in dtypes:
            for size in sizes:
                rows.append(_row(cell, compiled, numpy_module, dtype, tuple(size), budget))
    return rows


FIRST_CALL = """
import time, numpy
start = time.perf_counter()
import derive.generated.compiled.{cell} as m
for dtype in ("float32", "float64"):
    p = m.init_params(3, 4, dtype=dtype)
    _, _, cache = m.forward(p, numpy.ones((2, 1, 3), dtype))
    m.backward(p, cache, numpy.ones((2, 1, 4), dtype))
print(time.perf_counter() - start)
"""


def compile_seconds(cell: str = "lstm") -> dict[str, float]:
    """Import plus first forward and backward in float32 and float64, in a fresh process with an
    empty numba cache (``cold``), then in a second process reading that cache (``cached``)."""
    with tempfile.TemporaryDirectory(prefix="gatecalc-numba-") as cache_dir:
        env = {**__import__("os").environ, "NUMBA_CACHE_DIR": cache_dir}
        times = {}
        for name in ("cold", "cached"):
            done = subprocess.run([sys.executable, "-c", FIRST_CALL.format(cell=cell)], env=env,
                                  capture_output=True, text=True, check=True)
            times[name] = float(done.stdout.split()[-1])
    return times


def table(rows: list[dict], compile_times: dict[str, float]) -> str:
    lines = ["compiled target (derive/generated/compiled/): forward+backward, median of timed "
             "calls in interleaved blocks; path: what the module ran at that size (its loops, or "
             "its stepped path from STEPPED_FROM values a step); loops, stepped: that path forced; "
             "mm/torch: the schedule's products alone over nn.LSTM; of peak: compiled, and the "
             "products alone", "",
             f"{'cell':<10}{'dtype':<8}{'T,B,M,D':<18}{'path':<8}{'compiled':>11}{'loops':>11}"
             f"{'stepped':>11}{'numpy':>11}{'c/numpy':>9}{'l/numpy':>9}{'s/numpy':>9}"
             f"{'pytorch':>11}{'c/torch':>9}{'mm/torch':>9}{'of peak':>9}{'products':>10}"]
    for r in rows:
        s = r["seconds"]
        torch = (f"{s['pytorch'] * 1e3:>9.2f}ms{r['compiled_over_pytorch']:>9.2f}"
                 f"{r['products_over_pytorch']:>9.2f}"
                 if "pytorch" in s else f"{'-':>11}{'-':>9}{'-':>9}")
        peak = (f"{r['fraction_of_peak']:>9.0%}{r['products_fraction_of_peak']:>10.0%}"
                if "fraction_of_peak" in r else f"{'-':>9}{'-':>10}")
        size = "%d,%d,%d,%d" % (r["T"], r["B"], r["M"], r["D"])
        lines.append(f"{r['cell']:<10}{r['dtype']:<8}{size:<18}{r['path']:<8}"
                     f"{s['compiled'] * 1e3:>9.2f}ms{s['loops'] * 1e3:>9.2f}ms"
                     f"{s['stepped'] * 1e3:>9.2f}ms{s['numpy'] * 1e3:>9.2f}ms"
                     f"{r['compiled_over_numpy']:>9.2f}{r['loops_over_numpy']:>9.2f}"
                     f"{r['stepped_over_numpy']:>9.2f}{torch}{peak}")
    lines += ["", "first call (import + forward + backward, float32 and float64): "
                  f"{compile_times['cold']:.1f} s compiling, {compile_times['cached']:.2f} s "
                  "in a second process (numba's cache)"]
    return "\n".join(lines) + "\n"


def main(quick: bool = False) -> tuple[str, dict]:
    """The table and its figures; a note naming the extra when numba is missing."""
    if not available():
        return "compiled column: numba is not installed: pip install -e '.[fast]'\n", {}
    start = time.perf_counter()
    compile_times = compile_seconds()
    rows = bench_compiled(SIZES[:2] if quick else SIZES, budget=0.5 if quick else 3.0,
                          cells=("lstm",) if quick else CELLS)
    sweeps = [gemm.sweep((r["T"], r["B"], r["M"], r["D"]), r["dtype"],
                         r["seconds"].get("pytorch"), budget=0.3 if quick else 1.0)
              for r in rows if r["cell"] == "lstm"]
    figures = {"rows": rows, "compile_seconds": compile_times, "gemm_sweep": sweeps,
               "bench_seconds": time.perf_counter() - start}
    return table(rows, compile_times) + "\n" + "\n".join(gemm.table(sweeps)) + "\n", figures
