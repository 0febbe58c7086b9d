"""Command line: python -m verify check ..."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from derive.pages import FORMATS, build_and_report, render, verification_page
from derive.errors import PathError, UsageError, run_command
from derive.io.writer import Artifact, seal, stale, write_all
from derive.targets import TARGETS


from . import bench, report
from .gradcheck import DEFAULT_METHODS, METHODS, Sizes, check, make_problem, reference_sizes
from .targets import builtin_names, load_target


# A check holds its arrays several times over (forward cache, backward buffers, numeric copies):
# refuse sizes whose estimate exceeds this share of the machine's memory.
MEMORY_SHARE = 0.5


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    return run_command(args.run, args)


def _check(args) -> int:
    names = builtin_names() if args.all else args.targets
    if not names:
        raise UsageError("name at least one CELL or SPEC, or --all")
    if args.module and len(names) != 1:
        raise UsageError("--module checks one module: name exactly one CELL or SPEC")
    if args.seed < 0:
        raise UsageError(f"--seed takes a non-negative integer, not {args.seed}")
    sizes = _sizes(args.sizes)
    if args.json:
        _check_output_path(Path(args.json))
    methods = {"all": METHODS, None: DEFAULT_METHODS}.get(args.method, (args.method,))
    targets = [load_target(name, args.module, args.target) for name in names]
    for target in targets:
        _check_memory(target.module, sizes)
    results = []
    total = len(targets) * len(methods)
    for target in targets:
        for method in methods:
            start = time.perf_counter()
            print(f"[{len(results) + 1}/{total}] {target.cell.name}: {method} ...", end="",
                  file=sys.stderr, flush=True)
            used = reference_sizes() if method in ("forward", "exact") else sizes
            problem = make_problem(target.module, used, args.seed, dtype=args.dtype)
            results.append(check(problem, method, args.dtype, target.cell))
            outcome = "ok" if results[-1].passed else "FAILED"
            print(f" {outcome} ({time.perf_counter() - start:.1f} s)", file=sys.stderr)
    print(report.table(results), end="")
    if args.json:
        try:
            Path(args.json).write_text(report.dumps(results), encoding="utf-8")
        except OSError as exc:
            raise PathError(f"cannot write {args.json}: {exc.strerror or exc}") from None
        print(f"wrote {args.json}")
    return 0 if all(r.passed for r in results) else 1


def _engines(args) -> int:
    from . import engines
    return engines.main(args.json, args.quick)


def _against(args) -> int:
    from . import against  # the framework runners: only this command needs them
    swap = None
    if args.swap:
        parts = args.swap.split(":")
        if len(parts) != 3:
            raise UsageError(f"--swap takes ARRAY:GATE:GATE (e.g. weight_ih_l0:i:f), not "
                             f"{args.swap!r}")
        swap = against.Swap(*parts)
    layouts = against.rows(args.framework, args.cells)
    against.require_frameworks(layouts)
    runs = []
    for layout in layouts:
        print(f"{layout.layer} ({layout.cell}) ...", end="", file=sys.stderr, flush=True)
        runs.append(against.against(layout, _sizes(args.sizes), args.seed, swap))
        print(" ok" if runs[-1].result.passed else " FAILED", file=sys.stderr)
    print(report.table([r.result for r in runs]), end="")
    if args.json:
        Path(args.json).write_text(against.dumps(runs), encoding="utf-8")
        print(f"wrote {args.json}")
    return 0 if all(r.result.passed for r in runs) else 1


def _report(args) -> int:
    path, fw_path = Path(args.json), Path(args.frameworks_json)
    if not path.exists():
        raise UsageError(f"no report at {path}: run 'python -m verify check --all --method all "
                         f"--json {path}' first")
    try:
        data = json.loads(path.read_text("utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise UsageError(f"{path}: not a readable JSON report ({exc})") from None
    problem = report.shape_problem(data)
    if problem:
        raise UsageError(f"{path}: not a report of 'python -m verify check --json': {problem}")
    changed = report.changed_modules(data)
    if changed:
        for module, why in changed.items():
            print(f"error: {path}: {module}: {why}", file=sys.stderr)
        print(f"nothing written; measure again: python -m verify check --all --method all "
              f"--json {path}", file=sys.stderr)
        return 1
    fw_data = json.loads(fw_path.read_text("utf-8")) if fw_path.exists() else None
    for module, why in (report.changed_modules(fw_data) if fw_data else {}).items():
        # the frameworks page shows those rows as stale rather than blocking every page
        print(f"warning: {fw_path}: {module}: {why}; its rows are shown as stale until "
              f"python -m verify against all --json {fw_path}", file=sys.stderr)
    artifacts = [Artifact(Path(args.out) / lang / f"verification.{fmt}",
                          seal(render(verification_page(data, lang, path.as_posix()), fmt)))
                 for lang in ("en", "zh") for fmt in FORMATS]
    artifacts += _frameworks_artifacts(fw_data, fw_path, Path(args.out))
    if args.check:
        old = stale(artifacts)
        for p in old:
            print(f"stale: {p}")
        return 1 if old else 0
    for p in write_all(artifacts):
        print(f"wrote: {p}")
    if args.pdf:
        return build_and_report([a for a in artifacts if a.path.suffix == ".tex"])
    return 0


def _bench(args) -> int:
    if args.target == "torch":
        from . import torch_bench  # needs the torch extra
        return torch_bench.main(args.json, args.quick)
    return bench.main(args.json, args.quick, args.after)


def _check_output_path(path: Path) -> None:
    """Refuse, before any check runs, a --json path that cannot be written."""
    if path.is_dir() or (path.exists() and not path.is_file()):
        raise UsageError(f"--json {path}: not a file path (it is a folder or a device)")
    folder = path.parent
    if not folder.is_dir():
        raise UsageError(f"--json {path}: the folder {folder} does not exist")
    if not os.access(folder, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise UsageError(f"--json {path}: not writable")


def _check_memory(module, sizes: Sizes) -> None:
    """Refuse sizes whose arrays would not fit, with the estimate, before allocating any."""
    values_per_step = sizes.B * (sizes.M + sizes.D * (len(module.CACHE) + 4))
    params = sum(max(sizes.M, sizes.D) ** len(shape) for shape in module.PARAMS.values())
    estimate = 8 * (sizes.T * values_per_step + 3 * params)  # float64: x, cache, buffers
    try:
        available = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return
    if estimate > MEMORY_SHARE * available:
        raise UsageError(f"--sizes {sizes.T},{sizes.B},{sizes.M},{sizes.D} would need about "
                         f"{estimate / 2**30:.0f} GiB; this machine has "
                         f"{available / 2**30:.0f} GiB: choose smaller sizes")


def _frameworks_artifacts(data: dict | None, path: Path, out: Path) -> list[Artifact]:
    """The frameworks page from ``verify against --json``'s report (``data``, read from
    ``path``; without one the page says how to measure)."""
    from derive.io import pipeline
    from derive.frameworks import LAYOUTS
    from derive.pages.frameworks import frameworks_page
    cells = sorted({cell for _, cell in LAYOUTS})
    derivations = {c: pipeline.derivation_of(pipeline.resolve_spec(c)) for c in cells}
    modules = {c: pipeline.module_text(d) for c, d in derivations.items()}
    return [Artifact(out / lang / f"frameworks.{fmt}",
                     seal(render(frameworks_page(data, lang, path.as_posix(), derivations,
                                                 modules), fmt)))
            for lang in ("en", "zh") for fmt in FORMATS]


def _sizes(text: str) -> Sizes:
    try:
        values = [int(v) for v in text.split(",")]
    except ValueError:
        raise UsageError(f"--sizes takes T,B,M,D as four positive integers, not {text!r}") from None
    if len(values) != 4 or min(values) < 1:
        raise UsageError(f"--sizes takes T,B,M,D as four positive integers, not {text!r}")
    return Sizes(*values)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m verify",
                                     description="Check generated cell code numerically.")
    commands = parser.add_subparsers(required=True, metavar="COMMAND")
    cmd = commands.add_parser("check", help="gradient and forward checks")
    cmd.add_argument("targets", nargs="*", metavar="CELL|SPEC",
                     help="built-in cell names or spec files")
    cmd.add_argument("--all", action="store_true", help="every built-in cell")
    cmd.add_argument("--module", metavar="PATH", help="check this module file against the spec")
    cmd.add_argument("--target", default="numpy", choices=tuple(TARGETS),
                     help="which generated module of the cell: numpy (default), compiled "
                          "(needs the fast extra) or torch (the torch extra; checked through "
                          "verify/torch_adapter.py)")
    cmd.add_argument("--method", choices=METHODS + ("all",),
                     help="one method, or all; default: every method but exact (each under a "
                          "second)")
    cmd.add_argument("--dtype", default="float64", choices=("float64", "float32"))
    cmd.add_argument("--seed", type=int, default=0)
    cmd.add_argument("--sizes", default="4,3,3,4", metavar="T,B,M,D")
    cmd.add_argument("--json", metavar="FILE", help="write the JSON report here")
    cmd.set_defaults(run=_check)
    cmd = commands.add_parser("against", help="the real framework's layer beside the generated "
                                              "module (needs the interop extra)")
    cmd.add_argument("framework", choices=("torch", "keras", "onnx", "flax", "all"))
    cmd.add_argument("cells", nargs="*", metavar="CELL",
                     help="built-in cells (default: every cell the framework has a layer for)")
    cmd.add_argument("--seed", type=int, default=0)
    cmd.add_argument("--sizes", default="4,3,3,4", metavar="T,B,M,D")
    cmd.add_argument("--json", metavar="FILE", help="write the JSON report here")
    cmd.add_argument("--swap", metavar="ARRAY:GATE:GATE",
                     help="exchange two gate blocks of one framework array (a wrong layout, "
                          "to see it caught)")
    cmd.set_defaults(run=_against)
    cmd = commands.add_parser("report", help="the verification page, from a JSON report")
    cmd.add_argument("--json", default="docs/verification.json", metavar="FILE",
                     help="the report of 'check --json' (default: docs/verification.json)")
    cmd.add_argument("--frameworks-json", default="docs/frameworks.json", metavar="FILE",
                     help="the report of 'against --json' for DIR/<lang>/frameworks.* (default: "
                          "docs/frameworks.json)")
    cmd.add_argument("--out", required=True, metavar="DIR",
                     help="writes DIR/<lang>/verification.* and frameworks.*")
    cmd.add_argument("--check", action="store_true", help="change nothing; exit 1 if stale")
    cmd.add_argument("--pdf", action="store_true", help="also build the PDFs (needs xelatex)")
    cmd.set_defaults(run=_report)
    cmd = commands.add_parser("bench", help="speed of generated code, side by side")
    cmd.add_argument("--json", metavar="FILE", help="write the figures here")
    cmd.add_argument("--quick", action="store_true", help="the two smaller sizes, fewer repetitions")
    cmd.add_argument("--after", action="store_true",
                     help="only measure how long each library's threads slow the other after a "
                          "switch (what the settling time of the blocks is chosen from)")
    cmd.add_argument("--target", default="numpy", choices=("numpy", "torch"),
                     help="numpy: the generated NumPy lstm (default); torch: the generated torch "
                          "lstm against a user's loop of nn.Linear and nn.LSTM")
    cmd.set_defaults(run=_bench)
    cmd = commands.add_parser("engines", help="the compiled target's engine comparison on lstm "
                                              "(needs the fast extra)")
    cmd.add_argument("--json", metavar="FILE", help="write the figures here")
    cmd.add_argument("--quick", action="store_true", help="the two smaller sizes, short blocks")
    cmd.set_defaults(run=_engines)
    return parser


if __name__ == "__main__":
    sys.exit(main())
