"""Every command works from any folder, and from an installed (non-editable) wheel: a display
path (relative to the project) is for messages and headers only, never for opening a file."""

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from conftest import ROOT


def run_in(folder: Path, *args: str, python: str = sys.executable, env: dict | None = None):
    env = dict(os.environ, PYTHONPATH=str(ROOT)) if env is None else env
    return subprocess.run([python, *args], cwd=folder, capture_output=True, text=True,
                          timeout=600, env=env)


@pytest.fixture
def elsewhere(tmp_path):
    folder = tmp_path / "elsewhere"
    folder.mkdir()
    return folder


def test_show_codegen_and_a_spec_inside_the_project_from_another_folder(elsewhere):
    shown = run_in(elsewhere, "-m", "derive", "show", "lstm")
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.startswith("lstm: Long short-term memory")
    made = run_in(elsewhere, "-m", "derive", "codegen", "lstm", "--out", "out")
    assert made.returncode == 0, made.stderr
    text = (elsewhere / "out" / "lstm.py").read_text()
    assert text == (ROOT / "derive" / "generated" / "lstm.py").read_text()  # same header path
    inside = run_in(elsewhere, "-m", "derive", "show", str(ROOT / "derive" / "cells" / "gru.toml"))
    assert inside.returncode == 0, inside.stderr
    assert inside.stdout.startswith("gru: ")


def test_docs_regen_and_regen_check_from_another_folder(elsewhere):
    docs = run_in(elsewhere, "-m", "derive", "docs", "--out", "pages", "--format", "md",
                  "--lang", "en")
    assert docs.returncode == 0, docs.stderr
    assert (elsewhere / "pages" / "en" / "lstm.md").read_text() == \
        (ROOT / "docs" / "en" / "lstm.md").read_text()
    check = run_in(elsewhere, "-m", "derive", "regen", "--check")
    assert check.returncode == 0, check.stderr + check.stdout
    assert "up to date" in check.stdout
    regen = run_in(elsewhere, "-m", "derive", "regen")  # the tree is up to date: writes nothing
    assert regen.returncode == 0, regen.stderr
    assert ", 0 changed" in regen.stdout


def test_verify_from_another_folder(elsewhere):
    checked = run_in(elsewhere, "-m", "verify", "check", "lstm",
                     str(ROOT / "derive" / "cells" / "gru.toml"))
    assert checked.returncode == 0, checked.stderr


def _wheel_venv(tmp_path: Path) -> Path:
    """gatecalc built as a wheel from a copy of the project and pip-installed into a fresh
    venv, which sees NumPy and SymPy through a path file (not through site-packages' .pth
    files: those would install the editable gatecalc's import hook). Returns its python."""
    source = tmp_path / "src"
    for part in ("derive", "verify"):
        shutil.copytree(ROOT / part, source / part,
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    for part in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / part, source / part)
    wheels = tmp_path / "wheels"
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps",
                            "--no-build-isolation", "-q", "-w", str(wheels), str(source)],
                           capture_output=True, text=True, timeout=300)
    if built.returncode != 0:
        pytest.skip(f"cannot build a wheel here: {built.stderr[-300:]}")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    python = venv / "bin" / "python"
    purelib = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             capture_output=True, text=True, check=True).stdout.strip()
    Path(purelib, "system-packages.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    (wheel,) = wheels.glob("gatecalc-*.whl")
    subprocess.run([str(python), "-m", "pip", "install", "-q", "--no-deps", "--no-index",
                    str(wheel)], check=True, timeout=300, capture_output=True)
    return python


def test_every_command_from_an_installed_wheel(tmp_path, elsewhere):
    python = str(_wheel_venv(tmp_path))
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}

    def cli(*args):
        return run_in(elsewhere, *args, python=python, env=env)

    where = cli("-c", "import derive, verify; print(derive.__file__, verify.__file__)")
    assert where.stdout.count(str(tmp_path / "venv")) == 2, where  # the wheel, not the checkout
    shown = cli("-m", "derive", "show", "lstm")
    assert shown.returncode == 0 and shown.stdout.startswith("lstm: "), shown.stderr
    made = cli("-m", "derive", "codegen", "gru", "--out", "out")
    assert made.returncode == 0, made.stderr
    assert (elsewhere / "out" / "gru.py").read_text() == \
        (ROOT / "derive" / "generated" / "gru.py").read_text()
    docs = cli("-m", "derive", "docs", "lstm", "--out", "pages", "--format", "md", "--lang", "en")
    assert docs.returncode == 0, docs.stderr
    checked = cli("-m", "verify", "check", "lstm")
    assert checked.returncode == 0, checked.stderr
    for args in (("regen",), ("regen", "--check")):  # nothing of the installed package rewritten
        refused = cli("-m", "derive", *args)
        assert refused.returncode == 2, refused.stderr
        assert refused.stderr.startswith("error: regen rebuilds the generated files of a "
                                         "gatecalc source checkout")
