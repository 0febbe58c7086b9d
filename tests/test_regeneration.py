"""Regeneration loses nothing: hand edits are kept unless --force, and an interrupted run leaves
every file whole (old or new, never half-written) and importable."""

import shutil

import pytest

from derive.io import pipeline, writer
from derive.__main__ import main
from verify.targets import import_file


@pytest.fixture
def workspace(tmp_path, monkeypatch):
    """A private copy of the built-in specs, with their generated files written once."""
    cells, generated = tmp_path / "cells", tmp_path / "generated"
    shutil.copytree(pipeline.CELLS, cells, ignore=shutil.ignore_patterns("__pycache__", "*.py"))
    monkeypatch.setattr(pipeline, "CELLS", cells)
    monkeypatch.setattr(pipeline, "GENERATED", generated)
    monkeypatch.setattr(pipeline, "DOCS", tmp_path / "docs")
    assert main(["regen"]) == 0
    return cells, generated


def retitle(cells, suffix):
    for spec in cells.glob("*.toml"):
        text = spec.read_text()
        spec.write_text(text.replace('title = "', f'title = "{suffix} ', 1))


def test_hand_edited_file_is_named_and_kept(workspace, capsys):
    cells, generated = workspace
    edited = generated / "gru.py"
    text = edited.read_text().replace("return state_new, step_cache", "return state_new, step_cache  # mine")
    edited.write_text(text)
    retitle(cells, "New")
    assert main(["regen"]) == 1
    err = capsys.readouterr().err
    assert "not overwritten" in err and "gru.py: edited by hand" in err and "use --force" in err
    assert edited.read_text() == text
    assert "New" not in (generated / "lstm.py").read_text()  # refused as a whole: nothing written
    assert main(["regen", "--force"]) == 0
    assert "# mine" not in edited.read_text()
    assert main(["regen", "--check"]) == 0


def test_interrupted_regeneration_leaves_every_file_whole(workspace, monkeypatch):
    cells, generated = workspace
    before = {p.name: p.read_text() for p in generated.glob("*.py")}
    pages = {p: p.read_text() for p in (generated.parent / "docs").rglob("*.*")}
    retitle(cells, "Renamed")
    real_replace, calls = writer.os.replace, []

    def fail_after_first(src, dst):
        calls.append(dst)
        if len(calls) > 1:
            raise KeyboardInterrupt("injected failure after the first file")
        real_replace(src, dst)

    monkeypatch.setattr(writer.os, "replace", fail_after_first)
    assert main(["regen"]) == 130  # interrupted: one line, no traceback
    after = {p.name: p.read_text() for p in generated.glob("*.py")}
    assert set(after) == set(before)
    assert not list(generated.glob(".*.tmp"))  # no temporary file left behind
    renamed = [name for name in after if "Renamed" in after[name]]
    assert len(renamed) == 1  # the first file was replaced whole
    for name, text in after.items():
        assert text == before[name] or name in renamed
        assert not writer.edited_by_hand(text)
        module = import_file(generated / name)
        assert callable(module.forward) and callable(module.backward)
    monkeypatch.setattr(writer.os, "replace", real_replace)
    assert main(["regen"]) == 0  # the next run finishes the job
    assert all("Renamed" in p.read_text() for p in generated.glob("*.py"))
    assert all("Renamed" in p.read_text() for p in pages if p.suffix == ".md")


def test_sealed_hash_detects_any_change():
    text = (pipeline.GENERATED / "lstm.py").read_text()
    assert not writer.edited_by_hand(text)
    assert writer.edited_by_hand(text.replace("d_a_i = d_i*i*(1 - i)", "d_a_i = d_i*i"))


def test_generated_code_that_does_not_compile_is_refused_before_writing(monkeypatch):
    """A printer bug must not reach a file: the module is compiled before it is written."""
    from derive.io import pipeline
    from derive.targets.numpy import module as codegen
    from derive.errors import GenerationError

    monkeypatch.setattr(codegen, "_zero_state", lambda: "def forward(:\n")
    derivation = pipeline.derivation_of(pipeline.builtin_spec_paths()[0])
    with pytest.raises(GenerationError, match="does not compile"):
        codegen.generate_module(derivation)


def test_written_files_get_the_umask_permissions_or_keep_their_own(tmp_path):
    """The temporary file behind each atomic write is created 0600; what lands must not be."""
    import os
    import stat

    new, existing = tmp_path / "new.md", tmp_path / "old.md"
    existing.write_text("old")
    existing.chmod(0o640)
    umask = os.umask(0o022)
    try:
        writer.write_all([writer.Artifact(new, "new"), writer.Artifact(existing, "changed")],
                         force=True)  # old.md carries no seal: only --force replaces it
    finally:
        os.umask(umask)
    assert stat.S_IMODE(new.stat().st_mode) == 0o644
    assert stat.S_IMODE(existing.stat().st_mode) == 0o640
    assert existing.read_text() == "changed"


def test_regen_says_which_figure_tools_are_missing(monkeypatch, capsys):
    """Without matplotlib or dot, regen must not silently strip the committed figures."""
    import shutil
    import importlib.util
    from derive import __main__ as cli
    from derive.pages import figures

    monkeypatch.setattr(shutil, "which", lambda name: None)
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "matplotlib" else real(name, *a))
    assert len(figures.missing_tools()) == 2
    monkeypatch.setattr(cli.pipeline, "builtin_artifacts", lambda: [])
    assert main(["regen", "--check"]) == 0
    err = capsys.readouterr().err
    assert "warning: not installed: Graphviz's dot" in err and "pip install -e '.[docs]'" in err
