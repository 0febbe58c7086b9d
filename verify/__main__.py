"""Command line: python -m verify check ..."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from derive.pages import FORMATS, build_and_report, render, verification_page
from derive.errors import GenerationError, SpecError
from derive.io.writer import Artifact, seal, stale, write_all

from . import bench, report
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
    except UsageError as error:
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


def _report(args) -> int:
    path = Path(args.json)
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
    artifacts = [Artifact(Path(args.out) / lang / f"verification.{fmt}",
                          seal(render(verification_page(data, lang, path.as_posix()), fmt)))
                 for lang in ("en", "zh") for fmt in FORMATS]
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
    cmd = commands.add_parser("report", help="the verification page, from a JSON report")
    cmd.add_argument("--json", default="docs/verification.json", metavar="FILE",
                     help="the report of 'check --json' (default: docs/verification.json)")
    cmd.add_argument("--out", required=True, metavar="DIR", help="writes DIR/<lang>/verification.*")
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
