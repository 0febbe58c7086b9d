"""The torch benchmark compares like with like: the user's loop of nn.Linear computes what the
generated torch lstm computes (it is a timing baseline only), and the table runs end to end."""

import pytest

torch = pytest.importorskip("torch", reason="needs the torch extra: pip install -e '.[torch]'")

from verify import torch_bench  # noqa: E402


def test_the_user_loop_computes_the_generated_lstm():
    torch.manual_seed(0)
    generated = torch_bench.generated_cell(3, 4).double()
    user = torch_bench.UserLSTM(3, 4).double()
    with torch.no_grad():  # the generated cell's weights, stacked as the user's layers hold them
        user.input_map.weight.copy_(torch.cat([getattr(generated, f"W_{g}") for g in "ifco"]))
        user.state_map.weight.copy_(torch.cat([getattr(generated, f"U_{g}") for g in "ifco"]))
        user.input_map.bias.copy_(torch.cat([getattr(generated, f"b_{g}") for g in "ifco"]))
    x = torch.randn(5, 2, 3, dtype=torch.float64)
    y, state = generated(x)
    y_user, state_user = user(x)
    torch.testing.assert_close(y_user, y)
    torch.testing.assert_close(state_user["c"], state["c"])
    dy = torch.randn_like(y)
    y.backward(dy)
    y_user.backward(dy)
    torch.testing.assert_close(user.state_map.weight.grad,
                               torch.cat([getattr(generated, f"U_{g}").grad for g in "ifco"]))


def test_saved_bytes_counts_each_storage_once():
    """Two views of one buffer saved by autograd count once."""
    a = torch.randn(10, 10, dtype=torch.float64, requires_grad=True)

    class Model(torch.nn.Module):
        def forward(self, x):
            return a[:5] * a[5:], None  # mul saves both views of a's storage

    assert torch_bench.saved_bytes(Model(), None) == 10 * 10 * 8


def test_saved_bytes_without_parameters_leaves_out_only_the_parameters():
    """A Linear saves its input and its weight: without parameters, only the input's bytes."""
    linear = torch.nn.Linear(3, 4, dtype=torch.float64)
    x = torch.randn(5, 3, dtype=torch.float64, requires_grad=True)

    class Model(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.linear = linear

        def forward(self, x):
            return torch.tanh(self.linear(x)), None  # tanh saves its output, 5 by 4

    assert torch_bench.saved_bytes(Model(), x) == (5 * 3 + 4 * 3 + 5 * 4) * 8
    assert torch_bench.saved_bytes(Model(), x, parameters=False) == (5 * 3 + 5 * 4) * 8


def test_the_torch_bench_runs_end_to_end(monkeypatch):
    """Not a timing test: the figures are only checked for shape and sense."""
    from verify import bench

    monkeypatch.setattr(bench, "SETTLE_SECONDS", 0.0)
    rows = torch_bench.bench_torch(sizes=[(3, 2, 4, 5)], dtypes=("float32",), budget=0.01,
                                   device="cpu")
    (row,) = rows
    assert set(row["seconds"]) == {"generated", "recompute", "user", "nn.LSTM", "products"}
    assert row["products_over_user"] == row["seconds"]["products"] / row["seconds"]["user"]
    assert row["timed_calls"]["generated"] >= 6
    assert row["memory_over_user"] == row["saved_bytes"]["generated"] / row["saved_bytes"]["user"]
    assert row["memory_over_user"] > 0
    pinned = row["saved_bytes_without_parameters"]
    assert row["recompute_memory_without_parameters_over_user"] == (pinned["recompute"]
                                                                   / pinned["user"])
    assert all(pinned[k] < row["saved_bytes"][k] for k in pinned)  # every model saves weights
    text = torch_bench.table(rows)
    assert "cpu    float32 3,2,4,5" in text and "gen/user" in text and "mm/user" in text


class _Products(torch.overrides.TorchFunctionMode):
    """Records the shapes (m, k, n) of every matrix product called under it."""

    PRODUCTS = {torch.Tensor.__matmul__, torch.matmul, torch.mm, torch.Tensor.addmm_,
                torch.Tensor.matmul, torch.Tensor.mm}

    def __init__(self):
        super().__init__()
        self.shapes = []

    def __torch_function__(self, func, types, args=(), kwargs=None):
        if func in self.PRODUCTS:
            a, b = args[-2:]
            self.shapes.append((a.shape[0], a.shape[1], b.shape[1]))
        return func(*args, **(kwargs or {}))


class _AtenProducts:
    """Records the shapes (m, k, n) of every ATen matrix product run under it, called from
    Python or from C++ (the kernels' time loops), through torch's profiler."""

    def __enter__(self):
        from torch.profiler import ProfilerActivity, profile
        self.profile = profile(activities=[ProfilerActivity.CPU], record_shapes=True)
        self.profile.__enter__()
        return self

    def __exit__(self, *exc):
        self.profile.__exit__(*exc)
        self.shapes = []
        for event in self.profile.events():
            if event.name in ("aten::mm", "aten::addmm_"):
                a, b = event.input_shapes[-2:] if event.name == "aten::mm" else \
                    event.input_shapes[1:3]
                self.shapes.append((a[0], a[1], b[1]))


@pytest.mark.parametrize("name", ["lstm", "gru_cho", "lstmp"])
@pytest.mark.parametrize("fused", [False, True], ids=["torch-loops", "cpp-loops"])
def test_the_products_column_times_the_products_the_generated_code_makes(name, fused):
    """The shapes read off the plan are those the generated forward and backward multiply,
    as torch loops (seen as torch calls) and as the kernels' C++ loops (seen by the profiler;
    without a compiler those are the torch loops again)."""
    from collections import Counter
    from torch_targets import torch_generated

    module = torch_generated(name)
    sizes = {kw: n for n, kw in zip((3, 4, 2), module.SIZES.values())}
    params = module.init_params(**sizes)
    x = torch.randn(5, 2, sizes["input_size"], dtype=torch.float64)
    saved = module.FUSED
    module.FUSED = fused
    try:
        with (_AtenProducts() if fused else _Products()) as recorded:
            y, _, cache = module.forward(params, x)
            module.backward(params, cache, torch.ones_like(y))
    finally:
        module.FUSED = saved
    expected = Counter()
    for calls, m, k, n in torch_bench.schedule_products(5, 2, sizes, name):
        expected[(m, k, n)] += calls
    assert Counter(recorded.shapes) == expected
