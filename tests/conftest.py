import importlib
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ARTICLE_CELLS = ("lstm", "nfg", "peephole", "cifg")
ALL_CELLS = tuple(sorted(p.stem for p in (ROOT / "derive" / "cells").glob("*.toml")))


def generated(name: str):
    return importlib.import_module(f"derive.generated.{name}")


def run(*args: str, cwd: Path = ROOT, **kwargs) -> subprocess.CompletedProcess:
    """Run a command line of the project (python -m ...) and capture its output."""
    return subprocess.run([sys.executable, *args], cwd=cwd, capture_output=True, text=True,
                          timeout=600, **kwargs)


@pytest.fixture
def write_spec(tmp_path):
    """Write a spec text to a file and return its path."""
    def write(text: str, name: str = "cell.toml") -> Path:
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        return path
    return write


def module_of_spec(tmp_path, text: str, target: str = "numpy"):
    """(module, cell) of a spec text's module for ``target``, generated afresh and seen through
    the NumPy contract (a torch module through its adapter); skipped without the target's
    extra."""
    from derive.io import pipeline
    from derive.io.writer import write_all
    from verify.targets import _contract, import_file

    if target != "numpy":
        extra = {"compiled": "fast", "torch": "torch"}[target]
        pytest.importorskip({"compiled": "numba", "torch": "torch"}[target],
                            reason=f"needs the {extra} extra: pip install -e '.[{extra}]'")
    path = tmp_path / "cell.toml"
    path.write_text(text, encoding="utf-8")
    derivation = pipeline.derivation_of(path)
    artifact = pipeline.module_artifact(derivation, tmp_path / "out", target)
    write_all([artifact])
    return _contract(import_file(artifact.path)), derivation.cell


def with_backward(module, change):
    """``module`` with its backward's results passed through ``change(grads, dx, d_state0)``:
    a wrong gradient for a check to catch."""
    from types import SimpleNamespace

    def backward(*args):
        return change(*module.backward(*args))
    return SimpleNamespace(**{**vars(module), "backward": backward})
