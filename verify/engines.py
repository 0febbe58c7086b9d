"""Which engine for the compiled target: a measured comparison on the standard LSTM.

``python -m verify engines [--quick] [--json FILE]`` times forward + backward at the bench's four
sizes in float32 and float64, side by side in interleaved steady-state blocks
(``bench._interleaved_times``), of the engines a generated lstm module can run on, each the
module as generated from lstm's plan (nothing here is written for the cell):

- ``numpy``: the NumPy module (``derive.generated.lstm``), the reference;
- ``compiled_loops``: the compiled module with its compiled loops at every size: (a) the whole
  time loop in one numba call per direction, each step one ``np.dot`` (numba calls scipy's
  BLAS) then one compiled loop per run of elementwise statements;
- ``compiled_stepped``: the compiled module with its stepped path at every size: (b) NumPy's
  product per step from Python (every BLAS thread), then one compiled call per run of
  elementwise statements;
- ``torch_ops``: (c) the torch module's functions with its kernels off (``FUSED = False``):
  the same plan in plain PyTorch operations (MKL products, ATen's elementwise kernels), no
  autograd;
- ``torch_fused``: the torch module as it ships, its loops and elementwise runs in C++;
- ``pytorch``: ``torch.nn.LSTM`` with autograd, default settings (oneDNN's fused LSTM in float32).

The numba engine was chosen on 2026-12-01 with probes written by hand for lstm (see the README);
they held lstm's backward by hand, which this project does not keep, so the comparison now runs
the generated engines themselves. Each engine's gradients are first checked against the NumPy
module's (to rounding).
"""

from __future__ import annotations

import importlib
import json
import sys

import numpy

from .bench import (DTYPES, SIZES, WithSetting, _interleaved_times, _medians, _torch_runners,
                    contract_runner)

try:
    import numba  # noqa: F401
except ImportError:  # pragma: no cover - the probe needs the fast extra
    numba = None


def _as_numpy(result):
    grads, dx, d_state0 = result
    plain = (lambda a: a.numpy()) if not isinstance(dx, numpy.ndarray) else (lambda a: a)
    return ({k: plain(v) for k, v in grads.items()}, plain(dx),
            {k: plain(v) for k, v in d_state0.items()})


def _engines(params, x, dy) -> dict:
    """{engine: run() -> (grads, dx, d_state0)} of every engine this machine has."""
    runners = {"numpy": contract_runner(importlib.import_module("derive.generated.lstm"),
                                         params, x, dy)}
    compiled = importlib.import_module("derive.generated.compiled.lstm")
    runners["compiled_loops"] = contract_runner(WithSetting(compiled, "STEPPED_FROM", float("inf")),
                                                 params, x, dy)
    runners["compiled_stepped"] = contract_runner(WithSetting(compiled, "STEPPED_FROM", 0),
                                                   params, x, dy)
    try:
        import torch
    except ImportError:
        return runners
    module = importlib.import_module("derive.generated.torch.lstm")
    tensors = {k: torch.from_numpy(v) for k, v in params.items()}
    xt, dyt = torch.from_numpy(x), torch.from_numpy(dy)
    runners["torch_ops"] = contract_runner(WithSetting(module, "FUSED", False), tensors, xt, dyt)
    runners["torch_fused"] = contract_runner(module, tensors, xt, dyt)
    return runners


def _agrees(engine, reference, dtype) -> bool:
    """The engine's gradients (every parameter, the input, the initial state) against the NumPy
    module's, to the dtype's rounding."""
    grads, dx, d_state0 = _as_numpy(engine)
    ref_grads, ref_dx, ref_state0 = reference
    tol = 1e-3 if dtype == "float32" else 1e-9
    pairs = [(dx, ref_dx)] + [(grads[k], ref_grads[k]) for k in ref_grads] + [
        (d_state0[k], ref_state0[k]) for k in ref_state0]
    return all(numpy.allclose(a, b, rtol=tol, atol=tol) for a, b in pairs)


def compare(sizes=SIZES, dtypes=DTYPES, budget: float = 2.0, progress=None) -> list[dict]:
    module = importlib.import_module("derive.generated.lstm")
    rows = []
    for dtype in dtypes:
        for T, B, M, D in sizes:
            rng = numpy.random.default_rng(0)
            params = module.init_params(M, D, rng=rng, dtype=dtype)
            x = rng.standard_normal((T, B, M)).astype(dtype)
            dy = rng.standard_normal((T, B, D)).astype(dtype)
            runners = _engines(params, x, dy)
            torch_runs = _torch_runners(M, D, dtype)
            reference = runners["numpy"]()
            agree = {name: _agrees(run(), reference, dtype)
                     for name, run in runners.items() if name != "numpy"}
            if torch_runs is not None:
                runners["pytorch"] = lambda: torch_runs[0](x, dy)
            medians = _medians(_interleaved_times(runners, budget))
            rows.append({"dtype": dtype, "T": T, "B": B, "M": M, "D": D, "seconds": medians,
                         "agrees_with_numpy_module": agree})
            if progress is not None:
                progress(table(rows[-1:]).splitlines()[-3])
    return rows


def table(rows: list[dict]) -> str:
    names = ["numpy", "compiled_loops", "compiled_stepped", "torch_ops", "torch_fused",
             "pytorch"]
    lines = ["lstm forward+backward, median ms (interleaved steady-state blocks); "
             "in brackets: / pytorch nn.LSTM", ""]
    lines.append(f"{'dtype':<8}{'T,B,M,D':<18}" + "".join(f"{n:>20}" for n in names))
    for r in rows:
        s = r["seconds"]
        cells = []
        for n in names:
            if n not in s:
                cells.append(f"{'-':>20}")
                continue
            ratio = f" ({s[n] / s['pytorch']:.2f})" if "pytorch" in s else ""
            cells.append(f"{s[n] * 1e3:>12.2f}{ratio:>8}")
        size = "%d,%d,%d,%d" % (r["T"], r["B"], r["M"], r["D"])
        lines.append(f"{r['dtype']:<8}{size:<18}" + "".join(cells))
    bad = [(r["dtype"], r["T"], r["B"], name) for r in rows
           for name, ok in r["agrees_with_numpy_module"].items() if not ok]
    lines += ["", "all engines agree with the NumPy module" if not bad else f"DISAGREE: {bad}"]
    return "\n".join(lines) + "\n"


def main(json_path: str | None = None, quick: bool = False) -> int:
    if numba is None:
        print("error: the engine comparison needs numba: pip install -e '.[fast]'")
        return 2
    rows = compare(SIZES[:2] if quick else SIZES, budget=0.5 if quick else 2.0,
                   progress=lambda line: print(line, file=sys.stderr, flush=True))
    print(table(rows), end="")
    if json_path:
        with open(json_path, "w", encoding="utf-8") as stream:
            json.dump(rows, stream, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
