"""Checks of a module against itself, each comparing two ways of computing the same numbers:

- "steps": ``step_forward``/``step_backward`` run in a loop against ``forward``/``backward``,
  and every default call path against the explicit zeros it stands for: ``state0=None`` and a
  ``state0`` naming one state only (forward), ``dy=None``, ``d_state_T=None`` and a
  ``d_state_T`` naming one state only (backward). The other checks pass every argument, so
  without this a default path could be wrong unseen.
- "determinism": the backward run twice is bit-identical, and run with 1 and with 2 BLAS threads
  (threadpoolctl, from the test extra; without it only the repeat is compared) agrees within
  rounding; each row reports the largest differences.
- "batch": the gradients of a batch equal the sum over its samples of each sample's gradients,
  every sample run alone (and dx, d_state0 its rows).
"""

from __future__ import annotations

import numpy

from .faults import named_gradients


def _row(name, got, want, threshold, floor=0.0, **extra):
    from .gradcheck import WrtCheck, hybrid_error, normwise_error  # gradcheck imports this
    got, want = numpy.asarray(got), numpy.asarray(want)
    error = normwise_error(got, want, floor)
    hybrid, worst = hybrid_error(got, want)
    return WrtCheck(name, error, hybrid, threshold,
                    bool(numpy.isfinite(error) and error <= threshold), worst, dict(extra))


def _worst_row(name, pairs, threshold):
    """One row for a comparison of many arrays: the worst array's figures, and its name."""
    rows = [(array, _row(name, got, want, threshold)) for array, got, want in pairs]
    array, row = max(rows, key=lambda r: numpy.nan_to_num(r[1].normwise_rel_err, nan=numpy.inf))
    row.extra["array"] = array
    return row


def step_checks(problem, threshold: float) -> list:
    return _loop_checks(problem, threshold) + _default_path_checks(problem, threshold)


def _loop_checks(problem, threshold: float) -> list:
    """step_forward / step_backward in a loop against forward / backward, every output."""
    module = problem.module
    params, x, state0 = problem.split(problem.arrays)
    y, state_T, _ = module.forward(params, x, state0)
    sequence = problem.gradient(problem.arrays)
    state, caches, ys = state0, [], []
    for t in range(x.shape[0]):
        state, step_cache = module.step_forward(params, x[t], state)
        ys.append(state[module.OUTPUT])
        caches.append(step_cache)
    d_state = {s: problem.weights_state[s] for s in module.STATE}
    step_grads = {k: numpy.zeros_like(v) for k, v in params.items()}
    step_dx = numpy.zeros_like(x)
    for t in reversed(range(x.shape[0])):
        d_state = dict(d_state)
        d_state[module.OUTPUT] = d_state[module.OUTPUT] + problem.weights_y[t]
        g, step_dx[t], d_state = module.step_backward(params, caches[t], d_state)
        step_grads = {k: step_grads[k] + g[k] for k in step_grads}
    outputs = [("y", ys, y)] + [(f"state_T.{s}", state[s], state_T[s]) for s in module.STATE]
    grads = [(k, step_grads[k], sequence[k]) for k in params] + [("x", step_dx, sequence["x"])]
    grads += [(f"state0.{s}", d_state[s], sequence[f"state0.{s}"]) for s in module.STATE]
    # the floors of the forward and gradient checks (gradcheck.FLOOR): the two paths round
    # differently, and a value the cell drives towards 0 through a cancellation is known only
    # to a few ulps of the values it came from
    return [_row(name, got, want, threshold, _floor(group))
            for group in (outputs, grads) for name, got, want in group]


def _floor(pairs) -> float:
    from .gradcheck import FLOOR  # gradcheck imports this
    return FLOOR * max(float(numpy.linalg.norm(numpy.asarray(want))) for _, _, want in pairs)


def _default_path_checks(problem, threshold: float) -> list:
    module, arrays = problem.module, problem.arrays
    params, x, state0 = problem.split(arrays)
    zeros = {s: numpy.zeros_like(v) for s, v in state0.items()}
    rows = []

    def forward_row(name, given, explicit):
        y, state_T, _ = module.forward(params, x, given)
        y0, state_T0, _ = module.forward(params, x, explicit)
        pairs = [("y", y, y0)] + [(f"state_T.{s}", state_T[s], state_T0[s]) for s in state_T0]
        rows.append(_worst_row(name, pairs, threshold))

    def backward_row(name, dy, d_state_T, dy0, d_state_T0):
        got = problem.gradient(arrays, dy, d_state_T)
        want = problem.gradient(arrays, dy0, d_state_T0)
        rows.append(_worst_row(name, [(k, got[k], want[k]) for k in want], threshold))

    forward_row("state0=None", None, zeros)
    weights = problem.weights_state
    backward_row("dy=None", None, weights, numpy.zeros_like(problem.weights_y), weights)
    backward_row("d_state_T=None", problem.weights_y, None, problem.weights_y,
                 {s: numpy.zeros_like(w) for s, w in weights.items()})
    if len(module.STATE) > 1:
        for s in module.STATE:
            forward_row(f"state0={{{s}}}", {s: state0[s]}, dict(zeros, **{s: state0[s]}))
            only = {s: weights[s]}
            explicit = {r: (w if r == s else numpy.zeros_like(w)) for r, w in weights.items()}
            backward_row(f"d_state_T={{{s}}}", problem.weights_y, only, problem.weights_y,
                         explicit)
    return rows


def determinism_checks(problem, threshold: float) -> list:
    """Per array: a second backward bit-identical to the first, and 1 against 2 BLAS threads
    within ``threshold`` (normwise); the largest differences are in each row's detail."""
    first = problem.gradient(problem.arrays)
    again = problem.gradient(problem.arrays)
    try:
        from threadpoolctl import threadpool_limits  # optional: the test extra has it
    except ImportError:  # the repeat is still compared; the threads cannot be set
        one = two = first
    else:
        with threadpool_limits(limits=1, user_api="blas"):
            one = problem.gradient(problem.arrays)
        with threadpool_limits(limits=2, user_api="blas"):
            two = problem.gradient(problem.arrays)
    rows = []
    for name in first:
        repeat = float(numpy.max(numpy.abs(first[name] - again[name]), initial=0.0))
        threads = float(numpy.max(numpy.abs(one[name] - two[name]), initial=0.0))
        row = _row(name, one[name], two[name], threshold, repeat_max_abs_diff=repeat,
                   threads_max_abs_diff=threads)
        if repeat != 0.0 or not numpy.array_equal(first[name], again[name], equal_nan=True):
            row.passed = False
            row.extra["error"] = "a second backward on the same input differs"
        rows.append(row)
    return rows


def batch_checks(problem, threshold: float) -> list:
    """The batch's gradients against the samples' gradients, each sample run alone: parameters
    the sum over samples, dx and d_state0 sample by sample."""
    module, arrays = problem.module, problem.arrays
    whole = problem.gradient(arrays)
    batch = arrays["x"].shape[1]
    alone = []
    for b in range(batch):
        sample = {k: (v[:, b:b + 1] if k == "x" else v[b:b + 1] if k.startswith("state0.") else v)
                  for k, v in arrays.items()}
        params, x, state0 = problem.split(sample)
        _, _, cache = module.forward(params, x, state0)
        returned = module.backward(params, cache, problem.weights_y[:, b:b + 1],
                                   {s: w[b:b + 1] for s, w in problem.weights_state.items()})
        alone.append(named_gradients(module, sample, returned))
    rows = []
    for name in whole:
        if name == "x":
            summed = numpy.concatenate([g[name] for g in alone], axis=1)
        elif name.startswith("state0."):
            summed = numpy.concatenate([g[name] for g in alone], axis=0)
        else:
            summed = sum(g[name] for g in alone)
        rows.append(_row(name, whole[name], summed, threshold))
    return rows


CHECKS = {"steps": step_checks, "determinism": determinism_checks, "batch": batch_checks}
