"""Which engine for the compiled target: a measured comparison on the standard LSTM.

``python -m verify engines [--quick] [--json FILE]`` times forward + backward at the bench's four
sizes in float32 and float64, side by side in interleaved steady-state blocks
(``bench._interleaved_times``), of:

- ``numpy``: the generated NumPy module (``derive.generated.lstm``), the reference;
- ``numba_loop``: (a) the whole time loop in one numba call per direction: each step one
  ``np.dot`` (numba calls scipy's BLAS) then one fused loop for all elementwise work, with the
  vectorisable ``tanh`` of ``derive.targets.compiled.runtime``;
- ``numba_step``: (b) NumPy's BLAS product per step from Python, then one numba kernel per step
  for all elementwise work;
- ``torch_ops``: (c) the same schedule in plain PyTorch operations (MKL products, ATen's
  elementwise kernels), no autograd;
- ``pytorch``: ``torch.nn.LSTM`` with autograd, default settings (oneDNN's fused LSTM in float32).

The kernels below are written by hand for this one cell and used for timing only: each is first
checked to give the NumPy module's numbers (to rounding), and none produces or checks a gradient
anywhere else. The compiled target generates its kernels from the plan.
"""

from __future__ import annotations

import json
import sys

import numpy

from .bench import DTYPES, SIZES, _interleaved_times, _medians, _torch_runners

try:
    import numba
    from derive.targets.compiled.runtime import JIT, sigmoid, tanh
except ImportError:  # pragma: no cover - the probe needs the fast extra
    numba = None


def _stacks(params, D):
    """(M, 4D) and (D, 4D) stacked transposed matrices, (4D, D) stacked recurrent, (4D,) bias."""
    order = ("i", "f", "c", "o")
    w_x = numpy.ascontiguousarray(numpy.concatenate([params[f"W_{g}"] for g in order]).T)
    u_h = numpy.ascontiguousarray(numpy.concatenate([params[f"U_{g}"] for g in order]))
    bias = numpy.concatenate([params[f"b_{g}"] for g in order])
    return w_x, numpy.ascontiguousarray(u_h.T), u_h, bias


if numba is not None:
    @numba.njit(**JIT)
    def _gates_row(pre, rec, bias, c_prev, c, h, D):
        """One sample's gates from its pre-activations, written over ``pre``; c and h."""
        for j in range(D):
            i = sigmoid(pre[j] + rec[j] + bias[j])
            f = sigmoid(pre[D + j] + rec[D + j] + bias[D + j])
            g = tanh(pre[2 * D + j] + rec[2 * D + j] + bias[2 * D + j])
            o = sigmoid(pre[3 * D + j] + rec[3 * D + j] + bias[3 * D + j])
            pre[j], pre[D + j], pre[2 * D + j], pre[3 * D + j] = i, f, g, o
            c[j] = f * c_prev[j] + i * g
            h[j] = o * tanh(c[j])

    @numba.njit(**JIT)
    def _adjoint_row(gates, c_prev, c, dy, d_h, d_c, d_maps, D):
        """One sample's pre-activation adjoints (into d_maps) and d_c carried to the step before."""
        one = c.dtype.type(1)
        for j in range(D):
            i, f, g, o = gates[j], gates[D + j], gates[2 * D + j], gates[3 * D + j]
            tc = tanh(c[j])
            dh = d_h[j] + dy[j]
            dc = d_c[j] + dh * o * (one - tc * tc)
            d_maps[j] = dc * g * i * (one - i)
            d_maps[D + j] = dc * c_prev[j] * f * (one - f)
            d_maps[2 * D + j] = dc * i * (one - g * g)
            d_maps[3 * D + j] = dh * tc * o * (one - o)
            d_c[j] = dc * f

    @numba.njit(**JIT)
    def _loop_forward(xs, w_x, u_h_t, bias, seq_h, seq_c):
        T, B, M = xs.shape
        D = seq_h.shape[2]
        gates = numpy.dot(xs.reshape(T * B, M), w_x).reshape(T, B, 4 * D)
        rec = numpy.empty((B, 4 * D), xs.dtype)
        for t in range(T):
            numpy.dot(seq_h[t], u_h_t, rec)
            for b in range(B):
                _gates_row(gates[t, b], rec[b], bias, seq_c[t, b], seq_c[t + 1, b],
                           seq_h[t + 1, b], D)
        return gates

    @numba.njit(**JIT)
    def _loop_backward(xs, w_x, u_h, seq_h, seq_c, gates, dy):
        T, B, M = xs.shape
        D = seq_h.shape[2]
        d_maps = numpy.empty((T, B, 4 * D), xs.dtype)
        d_h = numpy.zeros((B, D), xs.dtype)
        d_c = numpy.zeros((B, D), xs.dtype)
        for t in range(T - 1, -1, -1):
            for b in range(B):
                _adjoint_row(gates[t, b], seq_c[t, b], seq_c[t + 1, b], dy[t, b], d_h[b], d_c[b],
                             d_maps[t, b], D)
            numpy.dot(d_maps[t], u_h, d_h)
        flat = d_maps.reshape(T * B, 4 * D)
        d_w_x = numpy.dot(flat.T, xs.reshape(T * B, M))
        d_u_h = numpy.dot(flat.T, seq_h[:T].reshape(T * B, D))
        dx = numpy.dot(flat, w_x.T).reshape(T, B, M)
        return d_w_x, d_u_h, flat.sum(axis=0), dx, d_h, d_c

    @numba.njit(**JIT)
    def _step_forward(pre, rec, bias, c_prev, c, h):
        for b in range(pre.shape[0]):
            _gates_row(pre[b], rec[b], bias, c_prev[b], c[b], h[b], c.shape[1])

    @numba.njit(**JIT)
    def _step_backward(gates, c_prev, c, dy, d_h, d_c, d_maps):
        for b in range(gates.shape[0]):
            _adjoint_row(gates[b], c_prev[b], c[b], dy[b], d_h[b], d_c[b], d_maps[b], c.shape[1])


def numba_loop(params, x, dy):
    T, B, _ = x.shape
    D = params["b_i"].shape[0]
    w_x, u_h_t, u_h, bias = _stacks(params, D)
    seq_h = numpy.zeros((T + 1, B, D), x.dtype)
    seq_c = numpy.zeros((T + 1, B, D), x.dtype)
    gates = _loop_forward(x, w_x, u_h_t, bias, seq_h, seq_c)
    return _loop_backward(x, w_x, u_h, seq_h, seq_c, gates, dy)


def numba_step(params, x, dy):
    T, B, M = x.shape
    D = params["b_i"].shape[0]
    w_x, u_h_t, u_h, bias = _stacks(params, D)
    seq_h = numpy.zeros((T + 1, B, D), x.dtype)
    seq_c = numpy.zeros((T + 1, B, D), x.dtype)
    gates = (x.reshape(T * B, M) @ w_x).reshape(T, B, 4 * D)
    rec = numpy.empty((B, 4 * D), x.dtype)
    for t in range(T):
        numpy.dot(seq_h[t], u_h_t, out=rec)
        _step_forward(gates[t], rec, bias, seq_c[t], seq_c[t + 1], seq_h[t + 1])
    d_maps = numpy.empty((T, B, 4 * D), x.dtype)
    d_h, d_c = numpy.zeros((B, D), x.dtype), numpy.zeros((B, D), x.dtype)
    for t in range(T - 1, -1, -1):
        _step_backward(gates[t], seq_c[t], seq_c[t + 1], dy[t], d_h, d_c, d_maps[t])
        numpy.dot(d_maps[t], u_h, out=d_h)
    flat = d_maps.reshape(T * B, 4 * D)
    return (flat.T @ x.reshape(T * B, M), flat.T @ seq_h[:T].reshape(T * B, D), flat.sum(axis=0),
            (flat @ w_x.T).reshape(x.shape), d_h, d_c)


def torch_ops(params, x, dy):
    import torch
    T, B, M = x.shape
    D = params["b_i"].shape[0]
    w_x, u_h_t, u_h, bias = (torch.from_numpy(a) for a in _stacks(params, D))
    xs, dys = torch.from_numpy(x), torch.from_numpy(dy)
    gates = torch.addmm(bias, xs.reshape(T * B, M), w_x).reshape(T, B, 4 * D)
    seq_h, seq_c = xs.new_zeros((T + 1, B, D)), xs.new_zeros((T + 1, B, D))
    for t in range(T):
        g = gates[t].addmm_(seq_h[t], u_h_t)
        torch.sigmoid(g[:, :2 * D], out=g[:, :2 * D])
        torch.tanh(g[:, 2 * D:3 * D], out=g[:, 2 * D:3 * D])
        torch.sigmoid(g[:, 3 * D:], out=g[:, 3 * D:])
        i, f, c_tilde, o = g.split(D, dim=1)
        torch.addcmul(f * seq_c[t], i, c_tilde, out=seq_c[t + 1])
        torch.mul(o, seq_c[t + 1].tanh(), out=seq_h[t + 1])
    d_maps = xs.new_empty((T, B, 4 * D))
    d_h, d_c = xs.new_zeros((B, D)), xs.new_zeros((B, D))
    for t in range(T - 1, -1, -1):
        i, f, c_tilde, o = gates[t].split(D, dim=1)
        tc = seq_c[t + 1].tanh()
        dh = d_h + dys[t]
        dc = d_c + dh * o * (1 - tc * tc)
        d_a = d_maps[t]
        torch.mul(dc * c_tilde, i * (1 - i), out=d_a[:, :D])
        torch.mul(dc * seq_c[t], f * (1 - f), out=d_a[:, D:2 * D])
        torch.mul(dc * i, 1 - c_tilde * c_tilde, out=d_a[:, 2 * D:3 * D])
        torch.mul(dh * tc, o * (1 - o), out=d_a[:, 3 * D:])
        d_c = dc * f
        d_h = d_a @ u_h
    flat = d_maps.reshape(T * B, 4 * D)
    return (flat.T @ xs.reshape(T * B, M), flat.T @ seq_h[:T].reshape(T * B, D), flat.sum(0),
            (flat @ w_x.T).reshape(T, B, M), d_h, d_c)


def _numpy_module(module, params, x, dy):
    _, _, cache = module.forward(params, x)
    grads, dx, d_state0 = module.backward(params, cache, dy)
    return (grads, dx, d_state0)


def _agrees(engine, reference, dtype) -> bool:
    """The engine's dx and d_W (stacked) against the NumPy module's, to the dtype's rounding."""
    grads, dx, _ = reference
    d_w_x, dx_engine = numpy.asarray(engine[0]), numpy.asarray(engine[3])
    d_w_ref = numpy.concatenate([grads[f"W_{g}"] for g in "ifco"])
    tol = 1e-3 if dtype == "float32" else 1e-9
    return (numpy.allclose(dx_engine, dx, rtol=tol, atol=tol)
            and numpy.allclose(d_w_x, d_w_ref, rtol=tol, atol=tol))


def compare(sizes=SIZES, dtypes=DTYPES, budget: float = 2.0, progress=None) -> list[dict]:
    import importlib
    module = importlib.import_module("derive.generated.lstm")
    rows = []
    for dtype in dtypes:
        for T, B, M, D in sizes:
            rng = numpy.random.default_rng(0)
            params = module.init_params(M, D, rng=rng, dtype=dtype)
            x = rng.standard_normal((T, B, M)).astype(dtype)
            dy = rng.standard_normal((T, B, D)).astype(dtype)
            runners = {"numpy": lambda: _numpy_module(module, params, x, dy),
                       "numba_loop": lambda: numba_loop(params, x, dy),
                       "numba_step": lambda: numba_step(params, x, dy)}
            torch_runs = _torch_runners(M, D, dtype)
            if torch_runs is not None:
                runners["torch_ops"] = lambda: torch_ops(params, x, dy)
                runners["pytorch"] = lambda: torch_runs[0](x, dy)
            reference = runners["numpy"]()
            agree = {name: _agrees(runners[name](), reference, dtype)
                     for name in ("numba_loop", "numba_step", "torch_ops") if name in runners}
            medians = _medians(_interleaved_times(runners, budget))
            rows.append({"dtype": dtype, "T": T, "B": B, "M": M, "D": D, "seconds": medians,
                         "agrees_with_numpy_module": agree})
            if progress is not None:
                progress(table(rows[-1:]).splitlines()[-3])
    return rows


def table(rows: list[dict]) -> str:
    names = ["numpy", "numba_loop", "numba_step", "torch_ops", "pytorch"]
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
