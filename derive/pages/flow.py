"""Gradient flow, measured: ‖∂L/∂s_{T−k}‖ against the lag k at initialisation, computed by the
generated module's own step functions, plotted with matplotlib (the ``docs`` extra).

The loss is ``L = Σ u ⊙ y_T`` (a fixed random unit vector ``u`` per sample): the error enters at
the last step only, so the norm at lag k shows how much of it survives k steps back. The state
measured is the one whose path carries the error across steps (``recurrence.carriers``).
Figures are deterministic: fixed seeds, values rounded to 4 significant digits before plotting,
matplotlib's SVG without dates and with a fixed hash salt.
"""

from __future__ import annotations

import functools
import io
import types

import numpy

from derive.ad.recurrence import carriers

STEPS = 40  # T
SIZE = 16  # M = D (and any other size)
BATCH = 32
SEED = 0


@functools.lru_cache(maxsize=None)
def load(module_text: str) -> types.ModuleType:
    """The generated module from its text (gatecalc's own output, importing only numpy)."""
    module = types.ModuleType("gatecalc_flow_module")
    exec(compile(module_text, "<generated module>", "exec"), module.__dict__)
    return module


def carrier_state(derivation) -> str:
    """The state whose error crosses steps on a direct elementwise path (the output otherwise)."""
    found = [c.state for c in carriers(derivation) if c.state != derivation.cell.output]
    return found[0] if found else derivation.cell.output


def measure(module: types.ModuleType, carrier: str,
            init: tuple[tuple[str, float], ...] = ()) -> tuple[float, ...]:
    """Mean over the batch of ‖∂L/∂carrier_{T−k}‖ for k = 1..STEPS, parameters as
    ``init_params`` draws them, with ``init`` overriding constant initial values."""
    rng = numpy.random.default_rng(SEED)
    sizes = {keyword: SIZE for keyword in module.SIZES.values()}
    params = module.init_params(rng=rng, **sizes)
    for name, value in init:
        params[name] = numpy.full_like(params[name], value)
    x = rng.standard_normal((STEPS, BATCH, SIZE))
    state = {s: numpy.zeros((BATCH, SIZE)) for s in module.STATE}
    caches = []
    for t in range(STEPS):
        state, cache = module.step_forward(params, x[t], state)
        caches.append(cache)
    u = rng.standard_normal(state[module.OUTPUT].shape)
    u /= numpy.linalg.norm(u, axis=1, keepdims=True)
    d_state = {s: numpy.zeros_like(v) for s, v in state.items()}
    d_state[module.OUTPUT] = u
    norms = []
    for cache in reversed(caches):
        _, _, d_state = module.step_backward(params, cache, d_state)
        norms.append(float(numpy.linalg.norm(d_state[carrier], axis=1).mean()))
    return tuple(float(f"{v:.4g}") for v in norms)


def plot(curves: tuple[tuple[str, tuple[float, ...]], ...], ylabel: str) -> tuple[str, bytes]:
    """(SVG text, PDF bytes) of the curves (label, norms at k = 1..) on a log scale.
    Raises ImportError without matplotlib."""
    import matplotlib
    matplotlib.use("Agg")
    from matplotlib.figure import Figure as Canvas

    with matplotlib.rc_context({"svg.hashsalt": "gatecalc", "svg.fonttype": "path",
                                "font.size": 9, "axes.spines.top": False,
                                "axes.spines.right": False}):
        canvas = Canvas(figsize=(6.0, 3.2))
        axes = canvas.add_subplot()
        for label, norms in curves:
            axes.semilogy(range(1, len(norms) + 1), [max(v, 1e-300) for v in norms],
                          label=label, linewidth=1.4)
        axes.set_xlabel("lag $k$")
        axes.set_ylabel(ylabel)
        axes.grid(True, which="major", linewidth=0.4, alpha=0.5)
        axes.legend(fontsize=8, ncol=2 if len(curves) > 4 else 1, frameon=False)
        canvas.tight_layout()
        svg, pdf = io.BytesIO(), io.BytesIO()
        canvas.savefig(svg, format="svg", metadata={"Date": None})
        canvas.savefig(pdf, format="pdf", metadata={"CreationDate": None})
    text = svg.getvalue().decode("utf-8")
    return text, pdf.getvalue()
