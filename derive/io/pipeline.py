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
from derive.targets.numpy.module import generate_module
from derive.errors import SpecError, Location
from derive.naming import IDENTIFIER
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
    return derive(parse_spec(_display_path(spec)))


def module_text(derivation: Derivation) -> str:
    """The generated module's file content."""
    return seal(generate_module(derivation))


def module_artifact(derivation: Derivation, out_dir: Path) -> Artifact:
    return Artifact(out_dir / f"{derivation.cell.name}.py", module_text(derivation))


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
    return json.loads(path.read_text("utf-8"))


def builtin_artifacts() -> list[Artifact]:
    """Everything ``regen`` writes for the built-in cells: modules and document pages."""
    derivations = [derivation_of(spec) for spec in builtin_spec_paths()]
    modules = [module_artifact(d, GENERATED) for d in derivations]
    texts = {d.cell.name: m.text for d, m in zip(derivations, modules)}
    return modules + doc_artifacts(derivations, DOCS, report=read_report(), modules=texts)


def renamed_spec(text: str, name: str) -> str:
    """A spec's text with its ``name = "..."`` line set to ``name``."""
    if not IDENTIFIER.match(name):
        raise SpecError(f"cell name {name!r} must be a valid identifier", Location(name, 1, 1))
    return re.sub(r'(?m)^name\s*=\s*"[^"]*"', f'name = "{name}"', text, count=1)


def _display_path(path: Path) -> str:
    """Paths inside the project are shown (and hashed into headers) relative to it."""
    try:
        return str(path.resolve().relative_to(PACKAGE.parent))
    except ValueError:
        return str(path)
