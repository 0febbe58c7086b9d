"""Command line: python -m derive {list, show, codegen, regen}."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from derive import pages

from derive.io import pipeline

from derive.pages import terminal
from derive.pages import FORMATS
from derive.pages.figures import missing_tools
from derive.errors import GenerationError, UsageError, run_command
from derive.targets import TARGETS
from derive.spec.reader import parse_spec, unused_params
from derive.io.writer import Artifact, stale, write_all


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    return run_command(args.run, args)


def _list(args) -> int:
    for spec in pipeline.builtin_spec_paths():
        cell = parse_spec(spec)
        print(f"{cell.name:<10} {cell.title}")
    return 0


def _show(args) -> int:
    spec = pipeline.resolve_spec(args.cell)
    _warn_unused(spec)
    print(terminal.render(pipeline.derivation_of(spec)), end="")
    return 0


def _codegen(args) -> int:
    spec = pipeline.resolve_spec(args.spec)
    _warn_unused(spec)
    artifact = pipeline.module_artifact(pipeline.derivation_of(spec), Path(args.out), args.target)
    written = write_all([artifact], force=args.force)
    print(f"{'wrote' if written else 'up to date'}: {artifact.path}")
    return 0


def _regen(args) -> int:
    for name in pipeline.unavailable_targets():
        print(f"note: target '{name}' left out: {pipeline.target(name).extra} extra not installed "
              f"(pip install -e '.[{pipeline.target(name).extra}]')", file=sys.stderr)
    for tool in missing_tools():  # the committed pages have these figures: say why they go
        print(f"warning: not installed: {tool}; pages will say the figure is missing, and "
              "differ from the committed ones", file=sys.stderr)
    artifacts = pipeline.builtin_artifacts()
    if args.check:
        old = stale(artifacts)
        for path in old:
            print(f"stale: {path}")
        if old:
            print("run 'python -m derive regen' to update", file=sys.stderr)
            return 1
        print(f"{len(artifacts)} generated files up to date")
        return 0
    written = write_all(artifacts, force=args.force)
    for path in written:
        print(f"wrote: {path}")
    print(f"{len(artifacts)} generated files, {len(written)} changed")
    return 0


def _new(args) -> int:
    """Copy a built-in spec as the start of a new cell, renamed."""
    source = pipeline.resolve_spec(args.from_cell)
    old = parse_spec(source)  # the copy starts from a spec that parses
    target = Path(args.out) / f"{args.name}.toml"
    text = pipeline.renamed_spec(source.read_text("utf-8"), args.name,
                                 f"{args.name} (from {old.name}: {old.title})")
    if target.exists() or target.is_symlink():
        raise GenerationError(f"{target} exists; not overwritten")
    write_all([Artifact(target, text)])
    print(f"wrote: {target}  (edit its equations, then: python -m derive codegen {target} --out DIR)")
    return 0


def _docs(args) -> int:
    formats = [f.strip() for f in args.format.split(",") if f.strip()]
    unknown = [f for f in formats if f not in (*FORMATS, "pdf")]
    if unknown:  # bad input: exit 2, like a bad spec
        raise UsageError(f"unknown format(s) {', '.join(unknown)}: choose from md,html,tex,pdf")
    langs = ("en", "zh") if args.lang == "all" else (args.lang,)
    specs = ([pipeline.resolve_spec(c) for c in args.cells] if args.cells
             else pipeline.builtin_spec_paths())
    derivations = [pipeline.derivation_of(spec) for spec in specs]
    out = Path(args.out)
    text_formats = tuple(f for f in FORMATS if f in formats or (f == "tex" and "pdf" in formats))
    page_list = pipeline.doc_pages(derivations, langs, report=pipeline.read_report())
    artifacts = [a for page in page_list
                 for a in pages.page_files(page, out / page.lang, text_formats)]
    keep = [a for a in artifacts if a.path.suffix[1:] in formats or a.path.suffix == ".svg"]
    for path in write_all(keep, force=args.force):
        print(f"wrote: {path}")
    if "pdf" in formats:
        return pages.build_and_report([a for a in artifacts if a.path.suffix == ".tex"],
                                    pipeline.pdf_attachments(page_list, out))
    return 0


def _warn_unused(spec: Path) -> None:
    unused = unused_params(parse_spec(spec))
    if unused:
        print(f"{spec}: warning: unused parameters: {', '.join(unused)}", file=sys.stderr)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m derive",
                                     description="Derive gated recurrent cells: equations in, "
                                                 "gradients, NumPy code and docs out.")
    commands = parser.add_subparsers(required=True, metavar="COMMAND")
    cmd = commands.add_parser("list", help="built-in cells, name and title")
    cmd.set_defaults(run=_list)
    cmd = commands.add_parser("show", help="the derived forward and backward equations")
    cmd.add_argument("cell", metavar="CELL", help="built-in cell name or spec file")
    cmd.set_defaults(run=_show)
    cmd = commands.add_parser("codegen", help="generate the module of a spec (NumPy or another "
                                              "target)")
    cmd.add_argument("spec", metavar="SPEC", help="spec file (or built-in cell name)")
    cmd.add_argument("--target", default="numpy", choices=tuple(TARGETS),
                     help="code target (default: numpy)")
    cmd.add_argument("--out", required=True, metavar="DIR", help="folder for <cell>.py")
    cmd.add_argument("--force", action="store_true", help="overwrite a hand-edited file")
    cmd.set_defaults(run=_codegen)
    cmd = commands.add_parser("docs", help="derivation pages: md, html, tex, pdf; en or zh")
    cmd.add_argument("cells", nargs="*", metavar="CELL|SPEC",
                     help="built-in cells or spec files (default: every built-in cell)")
    cmd.add_argument("--out", required=True, metavar="DIR", help="writes DIR/<lang>/<cell>.<fmt>")
    cmd.add_argument("--format", default="md,html,tex", help="any of md,html,tex,pdf")
    cmd.add_argument("--lang", default="all", choices=("en", "zh", "all"))
    cmd.add_argument("--force", action="store_true", help="overwrite hand-edited pages")
    cmd.set_defaults(run=_docs)
    cmd = commands.add_parser("new", help="start a new cell from a copy of a built-in spec")
    cmd.add_argument("name", metavar="NAME", help="the new cell's name (a valid identifier)")
    cmd.add_argument("--from", dest="from_cell", default="lstm", metavar="CELL",
                     help="built-in cell or spec to copy (default: lstm)")
    cmd.add_argument("--out", default=".", metavar="DIR", help="folder for NAME.toml")
    cmd.set_defaults(run=_new)
    cmd = commands.add_parser("regen", help="regenerate every built-in generated file")
    cmd.add_argument("--check", action="store_true",
                     help="change nothing; exit 1 listing stale files if regenerating would")
    cmd.add_argument("--force", action="store_true", help="overwrite hand-edited files")
    cmd.set_defaults(run=_regen)
    return parser


if __name__ == "__main__":
    sys.exit(main())
