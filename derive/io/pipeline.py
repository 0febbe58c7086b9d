"""The pipeline, stage by stage: spec -> Cell -> Derivation -> (code, docs) -> artifacts.

Pure functions except ``builtin_spec_paths`` (reads a folder); writing is ``writer``'s job.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from derive import pages
from derive.pages import Page
from derive.ad.adjoint import Derivation, derive
from derive.targets import TARGETS, target
from derive.errors import Location, PathError, SpecError, UsageError
from derive.naming import module_name_problem
from derive.spec.reader import parse_spec
from derive.io.writer import Artifact, seal

PACKAGE = Path(__file__).resolve().parents[1]  # derive/
CELLS = PACKAGE / "cells"
GENERATED = PACKAGE / "generated"
DOCS = PACKAGE.parent / "docs"
LANGS = ("en", "zh")


def builtin_spec_paths() -> list[Path]:
    return sorted(CELLS.glob("*.toml"))


def resolve_spec(name_or_path: str) -> Path:
    """A built-in cell name (``lstm``) or a path to a spec file."""
    builtin = CELLS / f"{name_or_path}.toml"
    if "/" not in name_or_path and not name_or_path.endswith(".toml") and builtin.exists():
        return builtin
    path = Path(name_or_path)
    if not path.exists():
        known = ", ".join(p.stem for p in builtin_spec_paths())
        raise SpecError(f"no built-in cell or spec file named {name_or_path!r} (built-in: {known})",
                        Location(name_or_path, 1, 1))
    return path


def derivation_of(spec: Path) -> Derivation:
    """Derive a spec file; messages and headers name it by its display path (relative to the
    project when inside it), but the file opened is ``spec`` itself, from any folder."""
    return derive(parse_spec(spec, display=_display_path(spec)))


def module_text(derivation: Derivation, target_name: str = "numpy") -> str:
    """The generated module's file content, for the target of that name."""
    return seal(target(target_name).generate()(derivation))


def module_artifact(derivation: Derivation, out_dir: Path, target_name: str = "numpy") -> Artifact:
    return Artifact(out_dir / f"{derivation.cell.name}.py", module_text(derivation, target_name))


def doc_pages(derivations: list[Derivation], langs=LANGS, report: dict | None = None,
              comparison: bool = True, modules: dict[str, str] | None = None) -> list[Page]:
    """Each cell's page, and the variant comparison when a cell's base is among them, in
    each language. ``modules``: each cell's module text, when the caller has it already
    (otherwise generated here, once per cell)."""
    if modules is None:
        modules = {d.cell.name: module_text(d) for d in derivations}
    out = []
    for lang in langs:
        out += [pages.cell_page(d, lang, report, modules[d.cell.name]) for d in derivations]
        if comparison and pages.variants_of(derivations):
            out.append(pages.comparison_page(derivations, lang, modules))
    return out


def doc_artifacts(derivations: list[Derivation], out_dir: Path, langs=LANGS,
                  formats=pages.FORMATS, report: dict | None = None, comparison: bool = True,
                  modules: dict[str, str] | None = None) -> list[Artifact]:
    """The files of ``doc_pages``, in ``out_dir/<lang>/<name>.<format>``."""
    artifacts = []
    for page in doc_pages(derivations, langs, report, comparison, modules):
        artifacts += pages.page_files(page, out_dir / page.lang, formats)
    return artifacts


def pdf_attachments(page_list: list[Page], out_dir: Path) -> dict[Path, dict[str, bytes]]:
    """For each page's .tex in ``out_dir/<lang>/``, the figure files LaTeX includes."""
    return {out_dir / p.lang / f"{p.name}.tex": pages.pdf_attachments(p) for p in page_list}


def read_report(path: Path = DOCS / "verification.json") -> dict | None:
    """The latest verification report (written by ``python -m verify check --json``), if any."""
    if not path.exists():
        return None
    try:
        report = json.loads(path.read_text("utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise PathError(f"{path}: not a readable JSON report ({exc})") from None
    if not isinstance(report, dict) or not isinstance(report.get("results", []), list):
        raise PathError(f"{path}: not a verification report (no list of results)")
    return report


def builtin_artifacts() -> list[Artifact]:
    """Everything ``regen`` writes for the built-in cells: each available target's modules
    (NumPy's in derive/generated/, another target's in derive/generated/<its folder>/) and
    the document pages. ``unavailable_targets`` names the targets left out. Only in
    a source checkout: an installed gatecalc has no docs/ to write (use codegen and docs)."""
    if not (PACKAGE.parent / "pyproject.toml").is_file():
        raise UsageError(f"regen rebuilds the generated files of a gatecalc source checkout; this "
                         f"gatecalc is installed at {PACKAGE}: use 'codegen' and 'docs' with --out")
    derivations = [derivation_of(spec) for spec in builtin_spec_paths()]
    modules = [module_artifact(d, GENERATED) for d in derivations]
    texts = {d.cell.name: m.text for d, m in zip(derivations, modules)}
    for other in TARGETS.values():
        if other.name != "numpy" and other.available:
            modules += [module_artifact(d, GENERATED / other.folder, other.name)
                        for d in derivations]
    return modules + doc_artifacts(derivations, DOCS, report=read_report(), modules=texts)


def unavailable_targets() -> list[str]:
    """Registered targets ``regen`` cannot generate here (their extra is not installed)."""
    return [t.name for t in TARGETS.values() if not t.available]


def renamed_spec(text: str, name: str, title: str) -> str:
    """A spec's text with its ``name = "..."`` line set to ``name`` and its title line to
    ``title`` (written as a TOML string)."""
    problem = module_name_problem(name)
    if problem:
        raise UsageError(problem)
    text = re.sub(r'(?m)^name\s*=\s*"[^"]*"', f'name = "{name}"', text, count=1)
    title_line = f"title = {json.dumps(title, ensure_ascii=False)}"
    if re.search(r"(?m)^title\s*=", text):
        return re.sub(r"(?m)^title\s*=.*$", lambda _: title_line, text, count=1)
    return re.sub(r'(?m)^(name = ".*")$', lambda m: f"{m.group(1)}\n{title_line}", text, count=1)


def _display_path(path: Path) -> str:
    """Paths inside the project are shown (and hashed into headers) relative to it."""
    try:
        return str(path.resolve().relative_to(PACKAGE.parent))
    except ValueError:
        return str(path)
