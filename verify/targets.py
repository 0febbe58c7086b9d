"""What to check: a built-in cell, a user's spec, or a module file checked against its spec."""

from __future__ import annotations

import hashlib
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
from derive.errors import UsageError
from derive.io.writer import write_all


@dataclass(frozen=True)
class Target:
    cell: Cell
    module: ModuleType


def builtin_names() -> list[str]:
    return [p.stem for p in pipeline.builtin_spec_paths()]


# The folders modules of spec files are generated into, removed when the process exits.
_FOLDERS: list[tempfile.TemporaryDirectory] = []


def load_target(name_or_spec: str, module_path: str | None = None,
                code_target: str = "numpy") -> Target:
    """A built-in cell uses its committed generated module (of ``code_target``:
    ``numpy`` or another registered target); a spec file is generated afresh
    into a temporary folder (removed at exit); ``module_path`` checks that file against the
    spec instead, once its cell name, parameters and spec hash are found to match the spec."""
    spec = pipeline.resolve_spec(name_or_spec)
    cell = parse_spec(spec)
    if module_path is not None:
        module = import_file(Path(module_path))
        _check_matches(module, cell, module_path)
        return Target(cell, _contract(module))
    if spec.parent == pipeline.CELLS:
        folder = pipeline.target(code_target).folder
        package = "derive.generated" + (f".{folder}" if folder else "")
        return Target(cell, _contract(importlib.import_module(f"{package}.{cell.name}")))
    scratch = tempfile.TemporaryDirectory(prefix="gatecalc-")
    _FOLDERS.append(scratch)
    artifact = pipeline.module_artifact(pipeline.derivation_of(spec), Path(scratch.name),
                                        code_target)
    write_all([artifact])
    return Target(cell, _contract(import_file(artifact.path)))


def _contract(module: ModuleType):
    """The module as the checks call it: a torch module (its functions take tensors) through
    ``torch_adapter.NumpyView``, any other as it is."""
    if "torch" not in getattr(module, "__dict__", {}):
        return module
    from .torch_adapter import NumpyView  # torch is importable: the module imported it
    return NumpyView(module)


def _check_matches(module: ModuleType, cell: Cell, module_path: str) -> None:
    """Refuse a module generated from another cell, or from another version of this spec."""
    params = {p.name: p.shape for p in cell.params}
    claimed = getattr(module, "CELL", None)
    if claimed != cell.name:
        raise UsageError(f"{module_path} implements cell {claimed!r}, not {cell.name!r}")
    module_params = getattr(module, "PARAMS", None)
    if not isinstance(module_params, dict) or {k: tuple(v) for k, v in module_params.items()} != params:
        raise UsageError(f"{module_path}: its PARAMS differ from the parameters of {cell.path}")
    if getattr(module, "SPEC_SHA256", None) != cell.spec_hash:
        raise UsageError(f"{module_path} was generated from another version of {cell.path} "
                         "(its SPEC_SHA256 differs); regenerate it with python -m derive codegen")


def import_file(path: Path) -> ModuleType:
    """Import a generated module from any path (executed afresh), under its own dotted name when
    it lies in a package on ``sys.path``, else under a name derived from its path. Either name
    is the same in every process: numba caches a compiled module's machine code beside the file
    together with the module's name, and a later process can load that cache only if it can
    import the module by that name (a name that changed per process made every second check of
    a compiled module fail)."""
    if not path.is_file():
        raise UsageError(f"cannot load module: no module file {path}")
    name = _module_name(path.resolve())
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise UsageError(f"cannot load module {path}: not a Python file")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:  # noqa: BLE001 - the module under test, not gatecalc, failed
        del sys.modules[name]
        raise UsageError(f"cannot load module {path}: {type(exc).__name__}: {exc}") from None
    return module


def _module_name(path: Path) -> str:
    """``path``'s dotted name from a ``sys.path`` folder through packages (never a top-level
    name, never a name already imported from another file), else ``gatecalc_checked_`` and a
    hash of the path."""
    for root in map(Path, sys.path):
        try:
            parts = path.with_suffix("").relative_to(root.resolve()).parts
        except (ValueError, OSError):
            continue
        folders = [root.resolve().joinpath(*parts[:k]) for k in range(1, len(parts))]
        name = ".".join(parts)
        imported = getattr(sys.modules.get(name), "__file__", None)
        if (len(parts) >= 2 and all(p.isidentifier() for p in parts)
                and all((folder / "__init__.py").is_file() for folder in folders)
                and (imported is None or Path(imported).resolve() == path)):
            return name
    return "gatecalc_checked_" + hashlib.sha256(str(path).encode()).hexdigest()[:16]
