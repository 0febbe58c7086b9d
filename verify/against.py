"""python -m verify against FRAMEWORK CELL: the real framework's layer beside the generated module.

The weights are the generated module's ``params`` converted by ``derive.frameworks``; both run on
the same input and initial state, and the report (the JSON style of ``check``) has the output and
final-state errors and, where the framework gives gradients (PyTorch, Keras on its torch backend,
Flax through JAX), every gradient, converted back to the cell's parameters. The loss is
``check``'s: ``L = Σ wy ⊙ y + Σ_s ws_s ⊙ state_T[s]``.
"""

from __future__ import annotations

import importlib
import json
import os
from dataclasses import dataclass

import numpy

from derive.frameworks import LAYOUTS, layout_of
from derive.frameworks.layout import Layout, grads_from_framework, source_of, swapped, to_framework

from . import report
from .frameworks import require
from .gradcheck import (FLOOR, CheckResult, Sizes, WrtCheck, hybrid_error, make_problem,
                        normwise_error, _module_digest, _module_path)

RUNNERS = {"torch": "pytorch", "keras": "keras3", "onnx": "onnxrt", "flax": "flax_linen"}
NEEDS = {"torch": ("torch",), "keras": ("torch", "keras"), "onnx": ("onnx", "onnxruntime"),
         "flax": ("jax", "flax")}
THRESHOLDS = {"float64": 1e-10, "float32": 1e-5}


@dataclass(frozen=True)
class Swap:
    """A deliberately wrong layout: two gate blocks of one framework array exchanged."""
    array: str
    gate_a: str
    gate_b: str


@dataclass
class Against:
    result: CheckResult
    layout: Layout
    version: str


def rows(framework: str, cells: list[str] | None = None) -> list[Layout]:
    """The layouts to run: every row of a framework (or of all, "all"), or the named cells."""
    frameworks = list(RUNNERS) if framework == "all" else [framework]
    if cells:
        return [layout_of(f, c) for f in frameworks for c in cells]
    return [layout for (f, _), layout in LAYOUTS.items() if f in frameworks]


def require_frameworks(layouts: list[Layout]) -> None:
    """Import each framework the rows need, before any runs: a missing one is one error line."""
    os.environ.setdefault("KERAS_BACKEND", "torch")  # Keras on torch: no TensorFlow needed
    for framework in dict.fromkeys(layout.framework for layout in layouts):
        for module in NEEDS[framework]:
            require(module)


def against(layout: Layout, sizes: Sizes, seed: int = 0, swap: Swap | None = None) -> Against:
    runner = importlib.import_module(f"verify.frameworks.{RUNNERS[layout.framework]}")
    module = importlib.import_module(f"derive.generated.{layout.cell}")
    dtype = layout.dtype  # float64 where the framework computes in it
    problem = make_problem(module, sizes, seed, dtype=numpy.dtype(dtype).type)
    params, x, state0 = problem.split(problem.arrays)
    weights = to_framework(layout, params)
    if swap is not None:
        weights = swapped(layout, weights, swap.array, swap.gate_a, swap.gate_b)
    run = runner.run(layout, weights, x, state0, problem.weights_y, problem.weights_state,
                     sizes.dims(module))
    y, state_T, cache = module.forward(params, x, state0)
    y = y.copy()
    threshold = THRESHOLDS[dtype]
    checks = [_compared(name, got, want, threshold) for name, got, want in
              [("y", y, run.y)] + [(f"state_T.{s}", state_T[s], run.state_T[s])
                                   for s in module.STATE]]
    if run.grads is not None:
        checks += _gradient_checks(problem, layout, run.grads, cache, threshold)
    result = CheckResult(module.CELL, _module_path(module), f"against {layout.framework}",
                         dtype, seed, sizes, checks, _module_digest(module))
    return Against(result, layout, run.version)


def _gradient_checks(problem, layout: Layout, fw_grads: dict, cache, threshold) -> list[WrtCheck]:
    module = problem.module
    params, _, _ = problem.split(problem.arrays)
    grads, dx, d_state0 = module.backward(params, cache, problem.weights_y, problem.weights_state)
    ours = dict(grads, x=dx, **{f"state0.{s}": d_state0[s] for s in module.STATE})
    theirs = grads_from_framework(layout, {a.name: fw_grads[a.name] for a in layout.arrays})
    theirs.update({k: v for k, v in fw_grads.items() if k == "x" or k.startswith("state0.")})
    floor = FLOOR * max(float(numpy.linalg.norm(v)) for v in theirs.values())
    where = source_of(layout)
    checks = []
    for name in ours:
        check = _compared(name, ours[name], theirs[name], threshold, floor)
        if name in where:
            check.extra["framework"] = where[name]
        checks.append(check)
    return checks


def _compared(name, got, want, threshold, floor=0.0) -> WrtCheck:
    error = normwise_error(got, want, floor)
    hybrid, worst = hybrid_error(got, want)
    return WrtCheck(name, error, hybrid, threshold, bool(numpy.isfinite(error)
                                                         and error <= threshold), worst)


def as_json(runs: list[Against]) -> dict:
    """``check``'s JSON, each result also naming the framework, its layer, options and version."""
    data = report.as_json([r.result for r in runs])
    for entry, r in zip(data["results"], runs):
        entry.update({"framework": r.layout.framework, "layer": r.layout.layer,
                      "options": {k: v for k, v in r.layout.options},
                      "framework_version": r.version})
    return data


def dumps(runs: list[Against]) -> str:
    return json.dumps(as_json(runs), indent=2, allow_nan=False) + "\n"
