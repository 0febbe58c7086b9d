"""The GEMM sweep of ``python -m verify bench``: each matrix product of the generated lstm's
schedule alone, in each CPU BLAS this machine has, on one thread and on all, beside the rate
PyTorch's ``nn.LSTM`` reaches over its whole forward and backward.

The products are read off the cell's plan (``schedule_products``: the input's maps, each step's
recurrent product, each step's adjoint product, the weight gradients and the input's adjoint
after the loop), so the sweep and the PyTorch target's ``products`` column time the shapes the
generated code multiplies. Each product runs as often as the schedule calls it, on contiguous
operands into a preallocated output, as ``numpy.matmul`` (NumPy's OpenBLAS) and, when torch is
installed, ``torch.mm`` (PyTorch's CPU BLAS), with the libraries' threads at 1 and at their
default; all in the interleaved steady-state blocks of ``bench``.

What it bounds: ``best`` is the schedule's products, each at the fastest rate any library and
thread count reached on its shape, and ``best/nn`` that time over ``nn.LSTM``'s whole forward
and backward (oneDNN's fused LSTM in float32). Where ``best/nn`` is near or above a target, no
schedule that makes these products through these libraries meets it on this machine.
"""

from __future__ import annotations

import contextlib

import numpy
import sympy

from derive.io import pipeline
from derive.targets.plan import make_plan

from .bench import _interleaved_times, _medians, lstm_flops

CELL = "lstm"


def schedule_products(steps: int, batch: int, sizes: dict[str, int], cell: str = CELL):
    """The generated forward and backward's matrix products, from the cell's plan: a list of
    (calls, m, k, n), each call an (m, k) by (k, n) product. ``sizes``: the size keywords
    (input_size=..., hidden_size=...)."""
    derivation = pipeline.derivation_of(pipeline.CELLS / f"{cell}.toml")
    spec = derivation.cell
    dims = {sympy.Symbol(dim): sizes[keyword] for dim, keyword in spec.sizes}
    rows, plan = steps * batch, make_plan(derivation)
    per_step = {s.matmul.operand for s in plan.steps if s.matmul is not None}
    products = []
    for g in plan.groups:
        width = int(sympy.sympify(g.slots[-1].stop).xreplace(dims))
        operand = dims[sympy.Symbol(spec.param(g.slots[0].matrix).shape[1])]
        if g.hoisted:  # forward: all steps at once; backward: the input's adjoint after the loop
            products += [(1, rows, operand, width), (1, rows, width, operand)]
        else:  # forward: each step's product
            products.append((steps, batch, operand, width))
        if g.operand in per_step:  # backward: the operand's adjoint, each step
            products.append((steps, batch, width, operand))
        products.append((1, width, rows, operand))  # the stacked matrix's gradient
    return products


_CONTROLLER = []  # threadpoolctl's controller, made once (finding the pools takes a while)


def _numpy_threads(count):
    if count is None:
        return contextlib.nullcontext()
    if not _CONTROLLER:
        from threadpoolctl import ThreadpoolController
        _CONTROLLER.append(ThreadpoolController())
    return _CONTROLLER[0].limit(limits=count, user_api="blas")


@contextlib.contextmanager
def _torch_threads(torch, count):
    before = torch.get_num_threads()
    if count is not None:
        torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def libraries():
    """name -> (operands(m, k, n, dtype) -> (a, b, out), product(a, b, out), threads(count))
    for each CPU BLAS present: NumPy's always, PyTorch's when torch is installed."""
    found = {"numpy": (lambda m, k, n, dtype: _numpy_operands(m, k, n, dtype),
                       lambda a, b, out: numpy.matmul(a, b, out=out), _numpy_threads)}
    try:
        import torch
    except ImportError:
        return found

    def torch_operands(m, k, n, dtype):
        return tuple(torch.from_numpy(a) for a in _numpy_operands(m, k, n, dtype))
    found["torch.mm"] = (torch_operands, lambda a, b, out: torch.mm(a, b, out=out),
                         lambda count: _torch_threads(torch, count))
    return found


def _numpy_operands(m, k, n, dtype):
    rng = numpy.random.default_rng(0)
    return (rng.standard_normal((m, k)).astype(dtype), rng.standard_normal((k, n)).astype(dtype),
            numpy.empty((m, n), dtype))


THREADS = (1, None)  # one thread, and the library's default (every core)


def _runner(library, calls, m, k, n, dtype, threads):
    operands, product, set_threads = library
    a, b, out = operands(m, k, n, dtype)

    def run():
        with set_threads(threads):
            for _ in range(calls):
                product(a, b, out)
    return run


def sweep(size, dtype: str, nn_lstm_seconds: float | None, budget: float = 1.0) -> dict:
    """One size and dtype: each product's GFLOP/s per library and thread count, the best
    schedule's time, and ``nn.LSTM``'s overall rate when its time is given."""
    T, B, M, D = size
    products = schedule_products(T, B, {"input_size": M, "hidden_size": D})
    shapes = {}  # (m, k, n) -> calls, the schedule's products of one shape together
    for calls, m, k, n in products:
        shapes[m, k, n] = shapes.get((m, k, n), 0) + calls
    found = libraries()
    runners = {(shape, name, threads): _runner(library, calls, *shape, dtype, threads)
               for shape, calls in shapes.items() for name, library in found.items()
               for threads in THREADS}
    seconds = _medians(_interleaved_times(runners, budget))
    rows = []
    best_seconds = 0.0
    for shape, calls in shapes.items():
        flops = 2 * calls * shape[0] * shape[1] * shape[2]
        rates = {f"{name} {'1' if threads else 'all'}": flops / seconds[shape, name, threads] / 1e9
                 for name in found for threads in THREADS}
        best_seconds += min(seconds[shape, name, threads] for name in found for threads in THREADS)
        rows.append({"calls": calls, "shape": shape, "gflops": rates})
    result = {"T": T, "B": B, "M": M, "D": D, "dtype": dtype, "products": rows,
              "flops": sum(2 * c * m * k * n for c, m, k, n in products),
              "best_seconds": best_seconds}
    if nn_lstm_seconds is not None:
        result["nn_lstm_gflops"] = lstm_flops(T, B, M, D) / nn_lstm_seconds / 1e9
        result["best_over_nn_lstm"] = best_seconds / nn_lstm_seconds
    return result


def table(sweeps: list[dict]) -> list[str]:
    columns = list(sweeps[0]["products"][0]["gflops"]) if sweeps else []
    lines = ["GEMM sweep (the lstm schedule's products, each shape alone, as often as the schedule "
             "calls it): GFLOP/s per library on 1 thread and on all; nn.LSTM: the products' flops "
             "of its whole forward+backward over its time, GFLOP/s; best: the products, each at its fastest rate "
             "here; best/nn: that time over nn.LSTM's", "",
             f"{'dtype':<8}{'T,B,M,D':<18}{'calls':>6}  {'m x k . k x n':<20}"
             + "".join(f"{c:>13}" for c in columns) + f"{'nn.LSTM':>10}{'best':>11}{'best/nn':>9}"]
    for s in sweeps:
        size = "%d,%d,%d,%d" % (s["T"], s["B"], s["M"], s["D"])
        for r in s["products"]:
            m, k, n = r["shape"]
            lines.append(f"{s['dtype']:<8}{size:<18}{r['calls']:>6}  {f'{m}x{k} . {k}x{n}':<20}"
                         + "".join(f"{r['gflops'][c]:>13.1f}" for c in columns))
        nn = (f"{s['nn_lstm_gflops']:>10.1f}{s['best_seconds'] * 1e3:>9.2f}ms"
              f"{s['best_over_nn_lstm']:>9.2f}" if "nn_lstm_gflops" in s
              else f"{'-':>10}{s['best_seconds'] * 1e3:>9.2f}ms{'-':>9}")
        lines.append(f"{s['dtype']:<8}{size:<18}{'':>6}  {'all products':<20}"
                     + "".join(f"{'':>13}" for _ in columns) + nn)
    return lines
