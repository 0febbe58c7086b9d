"""Benchmark of the PyTorch target: the generated torch ``lstm`` (its nn.Module, whose
autograd.Function runs the derived backward) against the same cell written as a user would, and
``nn.LSTM`` beside it.

The user's cell is written the way PyTorch's own custom-LSTM benchmarks write it
(``benchmarks/fastrnns/custom_lstms.py``): a Python loop over time steps, each step one
``nn.Linear`` of the input and one of the state into the four stacked gates, then the gates'
functions, all under autograd (which computes its backward). It is a timing baseline only.
``recompute`` is the generated Cell with ``recompute=True`` (the forward keeps only the states;
the backward recomputes the gates first).

``products`` bounds the time target: the matrix products the generated schedule makes (read off
the plan of the benched cell, ``verify/gemm.py``'s ``schedule_products``: the input's maps, each step's
recurrent products, each step's adjoint products, the weight gradients and the input's adjoint
after the loop), as ``torch.mm`` calls of the same shapes into preallocated outputs, timed in the
same interleaved blocks. ``mm/user`` is that time over the user's loop: where it is near or
above the target, no schedule making those products can meet it on this machine.

Time: forward + backward (``y.backward(dy)``), the median of timed calls in the interleaved
steady-state blocks of ``bench._interleaved_times``. Memory held for the backward: the bytes of
every distinct storage autograd saves during the forward, seen through
``torch.autograd.graph.saved_tensors_hooks`` (parameters included, on both sides). Devices come
from the parameters: the same table runs on a GPU when ``torch.cuda.is_available()``.
"""

from __future__ import annotations

import importlib
import json

import torch

from .bench import DTYPES, SIZES, _interleaved_times, _medians
from .gemm import schedule_products

CELL = "lstm"  # the benched cell: the generated module, and the plan its products are read from

TIME_TARGET, MEMORY_TARGET = 0.7, 0.5


class UserLSTM(torch.nn.Module):
    """The standard LSTM as a user writes it: a loop of ``nn.Linear`` under autograd."""

    def __init__(self, input_size, hidden_size):
        super().__init__()
        self.input_map = torch.nn.Linear(input_size, 4 * hidden_size)
        self.state_map = torch.nn.Linear(hidden_size, 4 * hidden_size, bias=False)

    def forward(self, x, state0=None):
        batch, hidden = x.shape[1], self.state_map.in_features
        h = c = x.new_zeros((batch, hidden))
        if state0 is not None:
            h, c = state0["h"], state0["c"]
        ys = []
        for x_t in x.unbind(0):
            gates = self.input_map(x_t) + self.state_map(h)
            i, f, g, o = gates.chunk(4, 1)
            i, f, g, o = torch.sigmoid(i), torch.sigmoid(f), torch.tanh(g), torch.sigmoid(o)
            c = f * c + i * g
            h = o * torch.tanh(c)
            ys.append(h)
        return torch.stack(ys), {"h": h, "c": c}


def generated_cell(input_size, hidden_size, recompute=False):
    module = importlib.import_module(f"derive.generated.torch.{CELL}")
    return module.Cell(input_size, hidden_size, recompute=recompute)


def recomputing_cell(input_size, hidden_size):
    return generated_cell(input_size, hidden_size, recompute=True)


class _NNLSTM(torch.nn.Module):
    """nn.LSTM answering like the others: (y, state)."""

    def __init__(self, input_size, hidden_size):
        super().__init__()
        self.lstm = torch.nn.LSTM(input_size, hidden_size)

    def forward(self, x):
        y, (h, c) = self.lstm(x)
        return y, {"h": h[0], "c": c[0]}


def _products_runner(products, device, dtype):
    """Only the given products, as torch.mm calls into preallocated outputs."""
    like = dict(device=device, dtype=dtype)
    operands = [(calls, torch.randn(m, k, **like), torch.randn(k, n, **like),
                 torch.empty(m, n, **like)) for calls, m, k, n in products]

    def run():
        for calls, a, b, out in operands:
            for _ in range(calls):
                torch.mm(a, b, out=out)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
    return run


MODELS = {"generated": generated_cell, "recompute": recomputing_cell, "user": UserLSTM,
          "nn.LSTM": _NNLSTM}


def _runner(model, x, dy):
    """One forward + backward; waits for the device so a timer sees the work."""
    device = next(model.parameters()).device

    def run():
        model.zero_grad(set_to_none=True)
        y, _ = model(x)
        y.backward(dy)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
    return run


def saved_bytes(model, x, parameters: bool = True) -> int:
    """Bytes of the distinct storages autograd holds for the backward of one forward; without
    ``parameters``, leaving out the model's parameters' storages (which the model holds whether
    or not a backward follows): what the forward pins for the backward alone."""
    storages = {}
    held = set() if parameters else {p.untyped_storage().data_ptr() for p in model.parameters()}

    def pack(tensor):
        storage = tensor.untyped_storage()
        if storage.data_ptr() not in held:
            storages[storage.data_ptr()] = storage.nbytes()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        y, _ = model(x)
    del y
    return sum(storages.values())


def devices() -> list[torch.device]:
    found = [torch.device("cpu")]
    if torch.cuda.is_available():
        found.append(torch.device("cuda"))
    return found


def bench_torch(sizes=SIZES, dtypes=DTYPES, budget: float = 3.0, device=None) -> list[dict]:
    rows = []
    for device in devices() if device is None else [torch.device(device)]:
        for dtype in dtypes:
            torch_dtype = getattr(torch, dtype)
            for T, B, M, D in sizes:
                torch.manual_seed(0)
                models = {name: make(M, D).to(device=device, dtype=torch_dtype)
                          for name, make in MODELS.items()}
                x = torch.randn(T, B, M, device=device, dtype=torch_dtype, requires_grad=True)
                dy = torch.randn(T, B, D, device=device, dtype=torch_dtype)
                runners = {name: _runner(m, x, dy) for name, m in models.items()}
                products = schedule_products(T, B, {"input_size": M, "hidden_size": D})
                runners["products"] = _products_runner(products, device, torch_dtype)
                times = _interleaved_times(runners, budget)
                seconds = _medians(times)
                memory = {name: saved_bytes(m, x) for name, m in models.items()}
                pinned = {name: saved_bytes(m, x, parameters=False) for name, m in models.items()}
                rows.append({
                    "device": device.type, "dtype": dtype, "T": T, "B": B, "M": M, "D": D,
                    "seconds": seconds, "timed_calls": {k: len(v) for k, v in times.items()},
                    "saved_bytes": memory, "saved_bytes_without_parameters": pinned,
                    "time_over_user": seconds["generated"] / seconds["user"],
                    "time_over_nn_lstm": seconds["generated"] / seconds["nn.LSTM"],
                    "memory_over_user": memory["generated"] / memory["user"],
                    "recompute_time_over_user": seconds["recompute"] / seconds["user"],
                    "recompute_memory_over_user": memory["recompute"] / memory["user"],
                    "memory_without_parameters_over_user": pinned["generated"] / pinned["user"],
                    "recompute_memory_without_parameters_over_user":
                        pinned["recompute"] / pinned["user"],
                    "products_over_user": seconds["products"] / seconds["user"],
                })
    return rows


def table(rows: list[dict]) -> str:
    lines = ["generated torch lstm (nn.Module, derived backward) against the same cell written as "
             "a user would (a loop of nn.Linear under autograd) and nn.LSTM;",
             "forward+backward, median of timed calls in interleaved blocks; memory: bytes "
             "autograd saves for the backward",
             f"targets: time gen/user <= {TIME_TARGET}, memory gen/user <= {MEMORY_TARGET}", ""]
    if not torch.cuda.is_available():
        lines.insert(-1, "no GPU here (torch.cuda.is_available() is False): CPU rows only")
    lines.insert(-1, "products: the generated code's matrix products alone (torch.mm, same "
                 f"shapes); mm/user at or above {TIME_TARGET} means no schedule making them can "
                 "meet the time target here")
    lines.insert(-1, "*: memory without the parameters' storages, which the model holds whether "
                 "or not a backward follows")
    lines.append(f"{'device':<7}{'dtype':<8}{'T,B,M,D':<17}{'generated':>11}{'user loop':>11}"
                 f"{'gen/user':>9}{'products':>11}{'mm/user':>8}{'nn.LSTM':>11}{'gen/nn':>8}"
                 f"{'saved gen':>11}"
                 f"{'saved user':>11}{'gen/user':>9}{'recompute':>11}{'rc/user':>8}"
                 f"{'saved rc':>10}{'rc/user':>8}{'gen/user*':>10}{'rc/user*':>9}")
    for r in rows:
        s, m = r["seconds"], r["saved_bytes"]
        lines.append(
            f"{r['device']:<7}{r['dtype']:<8}{'%d,%d,%d,%d' % (r['T'], r['B'], r['M'], r['D']):<17}"
            f"{s['generated'] * 1e3:>9.2f}ms{s['user'] * 1e3:>9.2f}ms{r['time_over_user']:>9.2f}"
            f"{s['products'] * 1e3:>9.2f}ms{r['products_over_user']:>8.2f}"
            f"{s['nn.LSTM'] * 1e3:>9.2f}ms{r['time_over_nn_lstm']:>8.2f}"
            f"{m['generated'] / 2**20:>9.2f}MB{m['user'] / 2**20:>9.2f}MB"
            f"{r['memory_over_user']:>9.2f}{s['recompute'] * 1e3:>9.2f}ms"
            f"{r['recompute_time_over_user']:>8.2f}{m['recompute'] / 2**20:>8.2f}MB"
            f"{r['recompute_memory_over_user']:>8.2f}"
            f"{r['memory_without_parameters_over_user']:>10.2f}"
            f"{r['recompute_memory_without_parameters_over_user']:>9.2f}")
    return "\n".join(lines) + "\n"


def main(json_path: str | None = None, quick: bool = False) -> int:
    rows = bench_torch(SIZES[:2] if quick else SIZES, budget=0.5 if quick else 3.0)
    print(table(rows), end="")
    if json_path:
        with open(json_path, "w", encoding="utf-8") as stream:
            json.dump({"torch_lstm": rows}, stream, indent=2)
    return 0
