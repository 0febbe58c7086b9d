"""The generated torch lstm trains: torch.optim.Adam on the adding problem (Hochreiter &
Schmidhuber 1997, experiment 4; here in the common form of Le, Jaitly & Hinton 2015), T = 50.

Each sequence has two channels: values drawn uniformly from [0, 1], and markers, 1 at one step
in the first half and one step in the second half, 0 elsewhere. The target is the sum of the two
marked values. Predicting its mean, 1.0, gives an MSE of Var(a + b) = 2/12 ≈ 0.167: a model that
does not carry the first marked value across the lag cannot do much better."""

import pytest

torch = pytest.importorskip("torch", reason="needs the torch extra: pip install -e '.[torch]'")

from torch_targets import torch_generated  # noqa: E402

T, BATCH, HIDDEN, STEPS = 50, 64, 24, 600
BASELINE = 1 / 6  # MSE of predicting 1.0


def adding_problem(steps, batch, generator):
    values = torch.rand(steps, batch, generator=generator)
    first = torch.randint(0, steps // 2, (batch,), generator=generator)
    second = torch.randint(steps // 2, steps, (batch,), generator=generator)
    markers = torch.zeros(steps, batch)
    markers[first, torch.arange(batch)] = 1.0
    markers[second, torch.arange(batch)] = 1.0
    return torch.stack((values, markers), dim=2), (values * markers).sum(0)[:, None]


def test_the_adding_problem_baseline_is_one_sixth():
    _, target = adding_problem(T, 20000, torch.Generator().manual_seed(1))
    assert ((target - 1.0) ** 2).mean().item() == pytest.approx(BASELINE, rel=0.05)


@pytest.fixture
def one_thread():
    """Small tensors: one thread (two threads spin against each other on a busy machine and took
    20 times as long here); restored afterwards, as other tests share the process."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_adam_trains_the_generated_cell_on_the_adding_problem(one_thread):
    module = torch_generated("lstm")
    torch.manual_seed(0)
    cell, readout = module.Cell(2, HIDDEN), torch.nn.Linear(HIDDEN, 1)
    optimiser = torch.optim.Adam([*cell.parameters(), *readout.parameters()], lr=1e-2)
    generator = torch.Generator().manual_seed(0)
    losses = []
    for _ in range(STEPS):
        x, target = adding_problem(T, BATCH, generator)
        y, _ = cell(x)
        loss = ((readout(y[-1]) - target) ** 2).mean()
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        losses.append(loss.item())
    x, target = adding_problem(T, 1000, torch.Generator().manual_seed(123))  # held out
    with torch.no_grad():
        held_out = ((readout(cell(x)[0][-1]) - target) ** 2).mean().item()
    assert held_out < BASELINE / 10, (held_out, losses[::50])


