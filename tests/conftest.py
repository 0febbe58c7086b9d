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
