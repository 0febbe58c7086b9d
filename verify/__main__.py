"""Command line: python -m verify check ..."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from derive.pages import pdf
from derive.pages.docs import FORMATS, render
from derive.errors import GenerationError, SpecError
from derive.io.writer import Artifact, seal, stale, write_all

from derive.frameworks.layout import LayoutError

from . import bench, report
from .frameworks import MissingFramework
from .gradcheck import METHODS, Sizes, check, make_problem, reference_sizes
from .targets import builtin_names, load_target


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        return args.run(args)
    except SpecError as error:
        print(error.render(), file=sys.stderr)
        return 2
    except (FileNotFoundError, ImportError, SyntaxError) as error:
        print(f"error: cannot load module: {error}", file=sys.stderr)
        return 2
    except (UsageError, MissingFramework, LayoutError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except GenerationError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1


class UsageError(Exception):
    pass


def _check(args) -> int:
    names = builtin_names() if args.all else args.targets
    if not names:
        raise UsageError("name at least one CELL or SPEC, or --all")
    if args.module and len(names) != 1:
        raise UsageError("--module checks one module: name exactly one CELL or SPEC")
    sizes = _sizes(args.sizes)
    methods = METHODS if args.method == "all" else (args.method,)
    targets = [load_target(name, args.module) for name in names]
    results = []
    total = len(targets) * len(methods)
    for target in targets:
        for method in methods:
            start = time.perf_counter()
            print(f"[{len(results) + 1}/{total}] {target.cell.name}: {method} ...", end="",
                  file=sys.stderr, flush=True)
            used = reference_sizes(sizes) if method in ("forward", "exact") else sizes
            problem = make_problem(target.module, used, args.seed, dtype=args.dtype)
            results.append(check(problem, method, args.dtype, target.cell))
            outcome = "ok" if results[-1].passed else "FAILED"
            print(f" {outcome} ({time.perf_counter() - start:.1f} s)", file=sys.stderr)
    print(report.table(results), end="")
    if args.json:
        Path(args.json).write_text(report.dumps(results), encoding="utf-8")
        print(f"wrote {args.json}")
    return 0 if all(r.passed for r in results) else 1


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
    data = json.loads(path.read_text("utf-8"))
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
                          seal(render(report.report_page(data, lang, path.as_posix()), fmt)))
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
        return pdf.build_and_report([a for a in artifacts if a.path.suffix == ".tex"])
    return 0


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
    cmd.add_argument("--method", default="central", choices=METHODS + ("all",))
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
    cmd.set_defaults(run=lambda args: bench.main(args.json, args.quick, args.after))
    return parser


if __name__ == "__main__":
    sys.exit(main())
