"""What to check: a built-in cell, a user's spec, or a module file checked against its spec."""

from __future__ import annotations

import importlib
import importlib.util
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from derive.io import pipeline
from derive.ad.cell import Cell
from derive.spec.reader import parse_spec
from derive.io.writer import write_all


@dataclass(frozen=True)
class Target:
    cell: Cell
    module: ModuleType


def builtin_names() -> list[str]:
    return [p.stem for p in pipeline.builtin_spec_paths()]


def load_target(name_or_spec: str, module_path: str | None = None,
                code_target: str = "numpy") -> Target:
    """A built-in cell uses its committed generated module (of ``code_target``: ``numpy`` or
    another registered target); a spec file is generated afresh into a temporary folder;
    ``module_path`` checks that file against the spec instead."""
    spec = pipeline.resolve_spec(name_or_spec)
    cell = parse_spec(spec)
    if module_path is not None:
        return Target(cell, import_file(Path(module_path)))
    if spec.parent == pipeline.CELLS:
        folder = pipeline.target(code_target).folder
        package = "derive.generated" + (f".{folder}" if folder else "")
        return Target(cell, importlib.import_module(f"{package}.{cell.name}"))
    out = Path(tempfile.mkdtemp(prefix="gatecalc-"))
    artifact = pipeline.module_artifact(pipeline.derivation_of(spec), out, code_target)
    write_all([artifact])
    return Target(cell, import_file(artifact.path))


def import_file(path: Path) -> ModuleType:
    """Import a generated module from any path, under a name of its own."""
    if not path.is_file():
        raise FileNotFoundError(f"no module file {path}")
    name = f"gatecalc_checked_{abs(hash(str(path.resolve())))}"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module
