"""Reporters: check results -> a terminal table, and the JSON report (a contract, see README)."""

from __future__ import annotations

import json
import math
from pathlib import Path

from derive import __version__

from derive.io.writer import sha256

from .gradcheck import ROOT, CheckResult


def as_json(results: list[CheckResult]) -> dict:
    return {
        "gatecalc_version": __version__,
        "results": [
            {
                "cell": r.cell,
                "module": r.module,
                "module_sha256": r.module_sha256,
                "method": r.method,
                "dtype": r.dtype,
                "seed": r.seed,
                "sizes": r.sizes.as_dict(),
                "passed": r.passed,
                "checks": [
                    {
                        "wrt": c.wrt,
                        "normwise_rel_err": _number(c.normwise_rel_err),
                        "hybrid_err": _number(c.hybrid_err),
                        "threshold": c.threshold,
                        "passed": c.passed,
                        "worst_index": c.worst_index,
                        **({"detail": _detail(c.extra)} if c.extra else {}),
                    }
                    for c in r.checks
                ],
            }
            for r in results
        ],
    }


_RESULT_FIELDS = {"cell": str, "module": str, "method": str, "dtype": str, "seed": int,
                  "sizes": dict, "passed": bool, "checks": list}
_CHECK_FIELDS = {"wrt": str, "threshold": (int, float), "passed": bool,
                 "normwise_rel_err": (int, float, str, type(None)),
                 "hybrid_err": (int, float, str, type(None))}


def shape_problem(report) -> str | None:
    """What makes ``report`` (parsed JSON) not a report of ``check --json``, or None."""
    if not isinstance(report, dict) or not isinstance(report.get("results"), list):
        return "not an object with a list of results"
    for i, result in enumerate(report["results"]):
        fields = [(f"results[{i}]", result, _RESULT_FIELDS)]
        if isinstance(result, dict) and isinstance(result.get("checks"), list):
            fields += [(f"results[{i}].checks[{j}]", c, _CHECK_FIELDS)
                       for j, c in enumerate(result["checks"])]
        for where, item, wanted in fields:
            if not isinstance(item, dict):
                return f"{where} is not an object"
            for key, kind in wanted.items():
                if not isinstance(item.get(key), kind) or (kind is int and isinstance(item[key], bool)):
                    return f"{where}.{key} is missing or not a {getattr(kind, '__name__', 'number')}"
        sizes = result["sizes"]
        if not all(isinstance(sizes.get(k), int) for k in ("T", "B", "M", "D")):
            return f"results[{i}].sizes needs integers T, B, M, D"
        if not isinstance(result.get("module_sha256", ""), (str, type(None))):
            return f"results[{i}].module_sha256 is not a string"
    return None


def changed_modules(report: dict, root: Path = ROOT) -> dict[str, str]:
    """The modules of a JSON report that may no longer be the files it checked, each with why:
    the file (a path relative to ``root``, or absolute) has another SHA-256, or the report
    recorded none. Files that are gone (a spec's module generated into a temporary folder) are
    not compared."""
    changed = {}
    for result in report.get("results", []):
        path = root / result["module"]
        recorded = result.get("module_sha256")
        if path.is_file() and recorded != sha256(path.read_bytes()):
            changed[result["module"]] = ("changed since these figures were measured" if recorded
                                         else "the report records no SHA-256 of it")
    return changed


def dumps(results: list[CheckResult]) -> str:
    return json.dumps(as_json(results), indent=2, allow_nan=False) + "\n"


def _number(value):
    """JSON has no NaN or infinity: non-finite errors are written as strings, never hidden."""
    if value is None or math.isfinite(value):
        return value
    return str(value)


def _detail(extra: dict) -> dict:
    def clean(v):
        if isinstance(v, list):
            return [clean(x) for x in v]
        return _number(float(v)) if isinstance(v, float) else v
    return {k: clean(v) for k, v in extra.items()}


NOTES = ("non_finite", "error", "escalated", "romberg", "within_spread")  # a row's explanations, printed after it


def table(results: list[CheckResult]) -> str:
    """One block per (cell, method, dtype): a row per checked array, worst first on failure."""
    lines = []
    for r in results:
        status = "PASS" if r.passed else "FAIL"
        sizes = ",".join(f"{k}={v}" for k, v in r.sizes.as_dict().items())
        lines.append(f"{status}  {r.cell}  {r.method}  {r.dtype}  seed={r.seed}  {sizes}")
        lines.append(f"       {'wrt':<14} {'normwise':>10} {'hybrid':>10} {'threshold':>10}  worst")
        for c in r.checks:
            mark = "ok" if c.passed else "FAIL"
            worst = "" if c.worst_index is None else str(tuple(c.worst_index))
            if c.normwise_rel_err is None:  # Taylor: observed convergence rates
                rates = ", ".join(f"{x:.2f}" for x in c.extra.get("rates", []))
                need = c.extra.get("linear", f"need >= {c.threshold}")
                lines.append(f"  {mark:<5}{c.wrt:<14} rates {rates}  ({need})")
                continue
            note = "".join(f"  {c.extra[k]}" for k in NOTES if k in c.extra)
            if "array" in c.extra:
                note = f"  in {c.extra['array']}{note}"
            lines.append(f"  {mark:<5}{c.wrt:<14} {c.normwise_rel_err:>10.2e} "
                         f"{c.hybrid_err:>10.2e} {c.threshold:>10.0e}  {worst}{note}")
        lines.append("")
    failed = [r for r in results if not r.passed]
    lines.append(f"{len(results) - len(failed)} passed, {len(failed)} failed")
    return "\n".join(lines) + "\n"
