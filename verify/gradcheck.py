"""Gradient checks of a generated module: analytic (its ``backward``) against numeric derivatives
of its ``forward``, per parameter, input and initial state.

The loss is a random-weighted sum of every output and the final state,
``L = Σ wy ⊙ y + Σ_s ws_s ⊙ state_T[s]``, with weights drawn from the printed seed; its adjoints
are exactly ``dy = wy`` and ``d_state_T = ws``.

Methods: "forward" compares the generated forward (y and the final state) with SymPy evaluating
the spec at 50 digits; "exact" compares the backward with SymPy's derivative of the unrolled
loss (both in ``reference``, at ``REFERENCE_SIZES``); "steps", "determinism" and "batch" compare
the module with itself (``consistency``: step functions against sequence functions and the
default call paths against explicit zeros; a repeated backward and 1 against 2 BLAS threads; a
batch against its samples run alone); the rest compare the backward with numeric derivatives of
the generated forward (``numeric``). A module that raises, or returns a gradient of the wrong
shape or with NaN, fails the check, which names the function or the array (``faults``).

Every check runs with the module's ``BLOCK_VALUES`` (when it has one) lowered so that the blocked
backward works in blocks of a few steps, with a block boundary inside the sequence
(``faults.small_blocks``).

Thresholds (on the normwise relative error ‖g − ĝ‖ / max(‖g‖, ‖ĝ‖, floor), where for gradients
floor = 1e-4 × the largest array's gradient norm in the same check; see ``normwise_error``),
float64:
  forward 1e-12, exact 1e-10, complex step 1e-10, Richardson 1e-9, central 1e-7,
  directional 1e-8 (per direction), steps 1e-12, determinism 1e-12 (a repeat must be
  bit-identical), batch 1e-12; Taylor: the remainder must fall at rate
  ≥ 1.8 as ε halves (the last two of five halvings: the asymptotic range).
float32 policy: the generated code runs in float32 and its gradient is compared with a float64
reference of the same (float32-representable) inputs, by the float64 method requested; the
threshold is 1e-4: float32 carries about 7 digits and a sequence loses a few of them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

import numpy

from derive.ad.cell import Cell
from derive.io.writer import sha256

from . import consistency, faults, numeric, reference

METHODS = ("forward", "exact", "central", "richardson", "complex", "directional", "taylor",
           "steps", "determinism", "batch")
# `verify check CELL` without --method: every method that takes under a second at the default
# sizes (exact takes 2 to 30 s a cell)
DEFAULT_METHODS = tuple(m for m in METHODS if m != "exact")
THRESHOLDS = {
    "float64": {"forward": 1e-12, "exact": 1e-10, "central": 1e-7, "richardson": 1e-9,
                "complex": 1e-10, "directional": 1e-8, "taylor": 1.8, "steps": 1e-12,
                "determinism": 1e-12, "batch": 1e-12},
    "float32": {"forward": 1e-5, "exact": 1e-4, "central": 1e-4, "richardson": 1e-4,
                "complex": 1e-4, "directional": 1e-4, "taylor": 1.8, "steps": 1e-5,
                "determinism": 1e-5, "batch": 1e-5},
}
DIRECTIONS = 3
TAYLOR_EPSILONS = [1e-2 / 2**k for k in range(6)]
TAYLOR_FLOOR_ULPS = 256
"""Remainders all within this many float64 ulps of the loss are rounding: the loss is linear
along that direction (a cell whose output is linear in its state, say) and the gradient matches
its slope to rounding, so the rates, ratios of noise, say nothing and the direction passes. A
wrong gradient leaves a remainder of ε·|error·v|, far above this at the largest ε."""


@dataclass(frozen=True)
class Sizes:
    T: int
    B: int
    M: int
    D: int

    def dims(self, module: ModuleType) -> dict[str, int]:
        """Every dimension of the module: input_size = M, hidden_size = D, any other = D − 1."""
        by_keyword = {"input_size": self.M, "hidden_size": self.D}
        return {dim: by_keyword.get(kw, max(1, self.D - 1)) for dim, kw in module.SIZES.items()}

    def as_dict(self) -> dict[str, int]:
        return {"T": self.T, "B": self.B, "M": self.M, "D": self.D}


REFERENCE_SIZES = Sizes(T=3, B=2, M=5, D=4)


@dataclass
class Problem:
    """Everything a check evaluates: named arrays (params, "x", "state0.<s>") and loss weights."""

    module: ModuleType
    arrays: dict[str, numpy.ndarray]
    weights_y: numpy.ndarray
    weights_state: dict[str, numpy.ndarray]
    seed: int
    sizes: Sizes

    def split(self, arrays):
        params = {k: arrays[k] for k in self.module.PARAMS}
        state0 = {s: arrays[f"state0.{s}"] for s in self.module.STATE}
        return params, arrays["x"], state0

    def loss(self, arrays) -> complex:
        params, x, state0 = self.split(arrays)
        y, state_T, _ = self.module.forward(params, x, state0)
        total = numpy.sum(self.weights_y * y)
        for s, w in self.weights_state.items():
            total = total + numpy.sum(w * state_T[s])
        return total

    def gradient(self, arrays, weights_y="loss", weights_state="loss") -> dict[str, numpy.ndarray]:
        """Every array's gradient by the module's backward, named like ``arrays``; by default
        of this problem's loss (the weights may be replaced, None included: the default paths).
        A missing, misshapen or non-finite gradient raises ``faults.ModuleFault`` naming it."""
        params, x, state0 = self.split(arrays)
        _, _, cache = self.module.forward(params, x, state0)
        dy = self.weights_y if isinstance(weights_y, str) else weights_y
        ds = self.weights_state if isinstance(weights_state, str) else weights_state
        return faults.named_gradients(self.module, arrays, self.module.backward(params, cache, dy, ds))


def make_problem(module: ModuleType, sizes: Sizes, seed: int = 0, input_scale: float = 1.0,
                 dtype=numpy.float64) -> Problem:
    rng = numpy.random.default_rng(seed)
    dims = sizes.dims(module)
    extra = {kw: dims[dim] for dim, kw in module.SIZES.items()
             if kw not in ("input_size", "hidden_size")}
    params = module.init_params(sizes.M, sizes.D, rng=rng, dtype=numpy.float64, **extra)
    for name, value in params.items():  # move constant initial values off round numbers
        params[name] = value + 0.1 * rng.standard_normal(value.shape)
    state_dims = {s: dims[d] for s, d in module.STATE_DIMS.items()}
    arrays = dict(params)
    arrays["x"] = input_scale * rng.standard_normal((sizes.T, sizes.B, sizes.M))
    arrays.update({f"state0.{s}": 0.5 * rng.standard_normal((sizes.B, n))
                   for s, n in state_dims.items()})
    arrays = {k: v.astype(dtype) for k, v in arrays.items()}
    out_size = state_dims[module.OUTPUT]
    weights_y = rng.standard_normal((sizes.T, sizes.B, out_size)).astype(dtype)
    weights_state = {s: rng.standard_normal((sizes.B, n)).astype(dtype)
                     for s, n in state_dims.items()}
    return Problem(module, arrays, weights_y, weights_state, seed, sizes)


@dataclass
class WrtCheck:
    wrt: str
    normwise_rel_err: float | None
    hybrid_err: float | None
    threshold: float
    passed: bool
    worst_index: list[int] | None
    extra: dict = field(default_factory=dict)


@dataclass
class CheckResult:
    cell: str
    module: str
    method: str
    dtype: str
    seed: int
    sizes: Sizes
    checks: list[WrtCheck]
    module_sha256: str | None = None  # of the module file checked: a report names what it checked

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.checks)


FLOOR = 1e-4  # of the largest array's gradient norm in the same check


def normwise_error(analytic: numpy.ndarray, reference: numpy.ndarray, floor: float = 0.0) -> float:
    """‖g − ĝ‖ / max(‖g‖, ‖ĝ‖, floor). The floor keeps an array whose true gradient is
    negligible (a saturated gate: 1 − tanh² ≈ 1e-11, known only to absolute accuracy ε) from
    failing on round-off; a wrong gradient of any array above the floor still fails."""
    a, r = numpy.asarray(analytic, numpy.complex128), numpy.asarray(reference, numpy.complex128)
    scale = max(numpy.linalg.norm(a), numpy.linalg.norm(r), floor)
    return 0.0 if scale == 0 else float(numpy.linalg.norm(a - r) / scale)


def hybrid_error(analytic, reference) -> tuple[float, list[int] | None]:
    """max |g − ĝ| / max(|ĝ|, 1e-3·‖ĝ‖∞) over elements, and the worst element's index."""
    a, r = numpy.asarray(analytic, numpy.complex128), numpy.asarray(reference, numpy.complex128)
    if a.size == 0:
        return 0.0, None
    floor = 1e-3 * numpy.max(numpy.abs(r))
    denominator = numpy.maximum(numpy.abs(r), floor)
    diff = numpy.abs(a - r)
    if not numpy.all(numpy.isfinite(diff)):
        return float("nan"), [int(i) for i in numpy.argwhere(~numpy.isfinite(diff))[0]]
    ratios = numpy.divide(diff, denominator, out=numpy.where(diff > 0, numpy.inf, 0.0),
                          where=denominator > 0)
    worst = numpy.unravel_index(int(numpy.argmax(ratios)), a.shape)
    return float(ratios[worst]), [int(i) for i in worst]


def reference_sizes(sizes: Sizes | None = None) -> Sizes:
    """The SymPy references evaluate unit by unit at 50 digits: "forward" and "exact" run at
    these sizes whatever ``sizes`` says. Distinct and none 2 where a size is combined with
    another (2+D ≠ 2·D, T·B ≠ T+B, M ≠ D, and a third dimension D − 1 = 3 ≠ 2), with T = 3 so
    that blocks of 2 steps leave a boundary inside the sequence: a fault that gives the right
    numbers only at coincident sizes cannot hide there."""
    return REFERENCE_SIZES


def check(problem: Problem, method: str, dtype: str = "float64",
          cell: Cell | None = None) -> CheckResult:
    """Run one method on every array of the problem (``dtype`` is the generated code's dtype).

    "forward" and "exact" need the ``cell`` the module was generated from, and a problem made
    at ``reference_sizes()``. Non-finite values fail the check and are named in its report; so
    does a module that raises or returns a gradient of the wrong shape (``faults``).
    """
    threshold = THRESHOLDS[dtype][method]
    with numpy.errstate(all="ignore"), faults.small_blocks(problem.module, problem.sizes):
        try:
            result = _check(problem, method, dtype, cell)
            finite = bool(numpy.isfinite(problem.loss(problem.arrays)))
        except Exception as error:  # noqa: BLE001 - only the checked module's own failures
            fault = faults.as_fault(problem.module, error)
            if fault is None:
                raise
            return _result(problem, method, dtype, [fault.failed_check(threshold)])
    if not finite:
        for c in result.checks:
            c.passed = False
            c.extra["non_finite"] = "the generated forward gives NaN or infinity here"
    return result


def _check(problem: Problem, method: str, dtype: str, cell: Cell | None) -> CheckResult:
    threshold = THRESHOLDS[dtype][method]
    wide = {k: v.astype(numpy.float64) for k, v in problem.arrays.items()}
    wide_problem = Problem(problem.module, wide, problem.weights_y.astype(numpy.float64),
                           {k: v.astype(numpy.float64) for k, v in problem.weights_state.items()},
                           problem.seed, problem.sizes)
    if method == "forward":
        return _result(problem, method, dtype, _forward_checks(problem, wide, cell, threshold))
    if method in consistency.CHECKS:
        return _result(problem, method, dtype, consistency.CHECKS[method](problem, threshold))
    analytic = problem.gradient(problem.arrays)  # in the problem's own dtype
    if method in ("directional", "taylor"):
        checks = _global_checks(wide_problem, analytic, method, threshold)
        if not all(c.passed for c in checks):
            checks += _escalated(wide_problem, analytic, method, THRESHOLDS[dtype]["complex"])
        return _result(problem, method, dtype, checks)
    reference_of = {
        "central": numeric.central, "richardson": numeric.richardson,
        "complex": numeric.complex_step,
        "exact": lambda _, arrays, name: reference.exact_gradient(
            cell, arrays, wide_problem.weights_y, wide_problem.weights_state, name),
    }[method]
    expected_all = {name: reference_of(wide_problem.loss, wide, name) for name in problem.arrays}
    checks = _elementwise_checks(analytic, expected_all, threshold)
    spread = {}  # each array's reference against the same differences at another step
    if method == "richardson" and not all(c.passed for c in checks):
        # a strongly nonlinear loss (a state cubed, step after step) leaves two levels' O(h⁴)
        # above the threshold: where they disagree, a third level is the reference
        failed = {c.wrt for c in checks if not c.passed}
        two_levels = expected_all
        expected_all = {name: numeric.richardson(wide_problem.loss, wide, name, levels=3)
                        if name in failed else value for name, value in expected_all.items()}
        spread = {name: float(numpy.linalg.norm(expected_all[name] - two_levels[name]))
                  for name in failed}
        checks = _elementwise_checks(analytic, expected_all, threshold)
        for c in checks:
            if c.wrt in failed:
                c.extra["romberg"] = "two levels disagreed: a third (h/4) added, error O(h⁶)"
    if method == "central":  # the same differences at h/2 show the noise floor
        floor = FLOOR * max(float(numpy.linalg.norm(v)) for v in expected_all.values())
        for c in checks:
            half = numeric.central(wide_problem.loss, wide, c.wrt, scale=0.5)
            c.extra["noise_estimate"] = normwise_error(half, expected_all[c.wrt], floor)
            spread[c.wrt] = float(numpy.linalg.norm(half - expected_all[c.wrt]))
    _pass_within_spread(checks, analytic, expected_all, spread)
    return _result(problem, method, dtype, checks)


SPREAD_FACTOR = 2.0


def _pass_within_spread(checks: list, analytic: dict, expected_all: dict, spread: dict) -> None:
    """A failed array whose gradient differs from the differences by no more than SPREAD_FACTOR
    times their own spread (the same differences at another step: h/2 for central, a third
    level for Richardson) passes, and says so: there the differences cannot resolve it. That
    is an array whose true gradient is 0 or nearly (a gate the equations cancel, g*h + (1-g)*h),
    its differences rounding noise. A gradient wrong by more than the spread still fails;
    complex step and exact, which have no such noise, check every array to their thresholds."""
    for c in checks:
        if c.passed or c.wrt not in spread:
            continue
        gap = float(numpy.linalg.norm(numpy.asarray(analytic[c.wrt], numpy.float64)
                                      - expected_all[c.wrt]))
        if numpy.isfinite(gap) and gap <= SPREAD_FACTOR * spread[c.wrt]:
            c.passed = True
            c.extra["within_spread"] = (
                f"|g - reference| = {gap:.1e}, within {SPREAD_FACTOR:g}x the differences' own "
                f"spread ({spread[c.wrt]:.1e}): they cannot resolve this array")


def _elementwise_checks(analytic: dict, expected_all: dict, threshold: float) -> list[WrtCheck]:
    """Each array's gradient against its reference, with the floor of the largest array."""
    floor = FLOOR * max(float(numpy.linalg.norm(v)) for v in expected_all.values())
    checks = []
    for name, expected in expected_all.items():
        error = normwise_error(analytic[name], expected, floor)
        hybrid, worst = hybrid_error(analytic[name], expected)
        checks.append(_compared(name, error, hybrid, threshold, worst))
    return checks


def _escalated(problem: Problem, analytic: dict, method: str, threshold: float) -> list[WrtCheck]:
    """After a failed direction: every array element by element (complex step), so the report
    names the arrays that are wrong and each one's worst element, not only that some are."""
    expected_all = {name: numeric.complex_step(problem.loss, problem.arrays, name)
                    for name in problem.arrays}
    checks = [c for c in _elementwise_checks(analytic, expected_all, threshold) if not c.passed]
    for c in checks:
        c.extra["escalated"] = f"{method} failed: this array, element by element (complex step)"
    return checks


def _compared(name, error, hybrid, threshold, worst) -> WrtCheck:
    return WrtCheck(name, error, hybrid, threshold,
                    bool(numpy.isfinite(error) and error <= threshold), worst)


def _result(problem: Problem, method: str, dtype: str, checks: list[WrtCheck]) -> CheckResult:
    return CheckResult(getattr(problem.module, "CELL", problem.module.__name__.rsplit(".", 1)[-1]),
                       _module_path(problem.module), method, dtype, problem.seed, problem.sizes,
                       checks, _module_digest(problem.module))


def _forward_checks(problem: Problem, wide: dict, cell: Cell, threshold: float) -> list[WrtCheck]:
    """The generated forward (in the problem's dtype) against SymPy's evaluation of the spec."""
    params, x, state0 = problem.split(problem.arrays)
    y, state_T, _ = problem.module.forward(params, x, state0)
    ref_params, ref_x, ref_state0 = problem.split(wide)
    ref_y, ref_state_T = reference.reference_forward(cell, ref_params, ref_x, ref_state0)
    outputs = [("y", y, ref_y)] + [(f"state_T.{s}", state_T[s], ref_state_T[s])
                                   for s in problem.module.STATE]
    # the gradients' floor, for the same reason: a state the cell drives towards 0 (h - h/(1 + ..))
    # comes out of a cancellation, known only to a few ulps of the values it came from
    floor = FLOOR * max(float(numpy.linalg.norm(want)) for _, _, want in outputs)
    checks = []
    for name, got, want in outputs:
        hybrid, worst = hybrid_error(got, want)
        checks.append(_compared(name, normwise_error(got, want, floor), hybrid, threshold, worst))
        if not numpy.all(numpy.isfinite(got)):
            checks[-1].extra["non_finite"] = "the generated forward has NaN or infinity"
    return checks


def _global_checks(problem: Problem, analytic, method: str, threshold: float) -> list[WrtCheck]:
    """Checks along random directions through every array at once (cost independent of size)."""
    rng = numpy.random.default_rng(problem.seed + 1)
    wide_grad = {k: numpy.asarray(v, numpy.float64) for k, v in analytic.items()}
    directions = numeric.random_directions(problem.arrays, DIRECTIONS, rng)
    checks = []
    for k, direction in enumerate(directions, start=1):
        predicted = numeric.inner(wide_grad, direction)
        if method == "directional":
            measured = numeric.directional(problem.loss, problem.arrays, direction)
            scale = max(abs(predicted), abs(measured))
            error = 0.0 if scale == 0 else abs(predicted - measured) / scale
            checks.append(WrtCheck(f"direction {k}", error, error, threshold,
                                   bool(numpy.isfinite(error) and error <= threshold), None,
                                   {"predicted": predicted, "measured": measured}))
        else:
            remainders = numeric.taylor_remainders(problem.loss, problem.arrays, wide_grad,
                                                   direction, TAYLOR_EPSILONS)
            rates = numeric.convergence_rates(TAYLOR_EPSILONS, remainders)
            # the asymptotic rates: at the largest ε the third-order term can still be as large
            # as the second (a rate of 1.7 there with 1.9 to 2.0 after it is a right gradient);
            # a wrong gradient's remainder is first order, so its last rates fall towards 1
            observed = min(rates[-2:]) if rates else float("nan")
            extra = {"rates": rates, "remainders": remainders}
            loss = max(abs(numpy.real(problem.loss(numeric.along(problem.arrays, direction, e))))
                       for e in (0.0, TAYLOR_EPSILONS[0]))
            floor = TAYLOR_FLOOR_ULPS * numpy.finfo(numpy.float64).eps * loss
            linear = max(remainders) <= floor
            if linear:
                extra["linear"] = (f"every remainder within {TAYLOR_FLOOR_ULPS} ulps of the loss "
                                   f"({floor:.1e}): linear along this direction")
            checks.append(WrtCheck(f"direction {k}", None, None, threshold,
                                   bool(linear or numpy.isfinite(observed) and
                                        observed >= threshold), None, extra))
    return checks


ROOT = Path(__file__).resolve().parents[1]  # the project: reports name modules relative to it


def _module_path(module: ModuleType) -> str:
    """The module's file, relative to the project when inside it (so reports are portable)."""
    path = Path(getattr(module, "__file__", module.__name__)).resolve()
    try:
        return path.relative_to(ROOT).as_posix()
    except ValueError:
        return str(path)


def _module_digest(module: ModuleType) -> str | None:
    path = getattr(module, "__file__", None)
    return sha256(Path(path).read_bytes()) if path else None
