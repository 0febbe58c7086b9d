"""Nothing of the user's is lost: only a file whose gatecalc seal verifies is replaced without
--force; a killed run's temporary files are removed by the next write; checks leave no folder."""

import os
import signal
import subprocess
import sys
import tempfile

from conftest import ROOT, run

from derive.io import writer

LSTM = (ROOT / "derive" / "cells" / "lstm.toml").read_text()


def spec_named(tmp_path, name="t"):
    path = tmp_path / f"{name}.toml"
    path.write_text(LSTM.replace('name = "lstm"', f'name = "{name}"'))
    return path


def codegen(spec, out, *extra):
    return run("-m", "derive", "codegen", str(spec), "--out", str(out), *extra)


def test_a_file_gatecalc_did_not_write_needs_force(tmp_path):
    spec, out = spec_named(tmp_path), tmp_path / "out"
    out.mkdir()
    (out / "t.py").write_text("PRECIOUS=1\n")
    refused = codegen(spec, out)
    assert refused.returncode == 1
    assert refused.stderr.startswith("error: not overwritten: ") and "--force" in refused.stderr
    assert (out / "t.py").read_text() == "PRECIOUS=1\n"
    forced = codegen(spec, out, "--force")
    assert forced.returncode == 0 and "PRECIOUS" not in (out / "t.py").read_text()


def test_a_generated_file_whose_seal_line_was_removed_needs_force(tmp_path):
    spec, out = spec_named(tmp_path), tmp_path / "out"
    assert codegen(spec, out).returncode == 0
    text = "".join(line for line in (out / "t.py").read_text().splitlines(keepends=True)
                   if "gatecalc-content-sha256" not in line) + "# my note\n"
    (out / "t.py").write_text(text)
    refused = codegen(spec, out)
    assert refused.returncode == 1 and "not overwritten" in refused.stderr
    assert (out / "t.py").read_text() == text
    again = codegen(spec, out, "--force")
    assert again.returncode == 0 and codegen(spec, out).stdout.startswith("up to date")


def test_a_sealed_file_is_replaced_silently(tmp_path):
    spec, out = spec_named(tmp_path), tmp_path / "out"
    assert codegen(spec, out).returncode == 0
    spec.write_text(spec.read_text().replace('title = "', 'title = "New ', 1))
    replaced = codegen(spec, out)
    assert replaced.returncode == 0 and replaced.stdout.startswith("wrote: ")
    assert "New Long" in (out / "t.py").read_text()


KILLED_WRITE = """
import os, signal, sys
from derive.io import writer
def killed(src, dst):
    os.kill(os.getpid(), signal.SIGKILL)  # as kill -9 would, between the write and the rename
writer.os.replace = killed
from derive.__main__ import main
main(["codegen", sys.argv[1], "--out", sys.argv[2]])
"""


def test_a_killed_write_leaves_a_temporary_file_the_next_write_removes(tmp_path):
    spec, out = spec_named(tmp_path), tmp_path / "out"
    killed = subprocess.run([sys.executable, "-c", KILLED_WRITE, str(spec), str(out)],
                            cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert killed.returncode == -signal.SIGKILL
    (left,) = [p for p in out.iterdir()]
    assert left.name.startswith(".t.py.gatecalc-") and left.suffix == ".tmp"
    older = out / ".t.py.abcd_123.tmp"  # as versions before the process id was recorded named it
    older.write_text("partial")
    foreign = out / ".t.py.notours.tmp"  # not one of ours: left alone
    foreign.write_text("keep")
    again = codegen(spec, out)
    assert again.returncode == 0, again.stderr
    assert f"removed a temporary file an interrupted run left: {left}" in again.stderr
    assert not left.exists() and not older.exists() and foreign.exists()
    assert (out / "t.py").is_file()


def test_an_up_to_date_write_still_removes_a_killed_runs_temporary_file(tmp_path):
    spec, out = spec_named(tmp_path), tmp_path / "out"
    assert codegen(spec, out).returncode == 0
    left = out / ".t.py.gatecalc-99999999-abcdefgh.tmp"  # no such process: a killed run's
    left.write_text("partial")
    again = codegen(spec, out)
    assert again.returncode == 0 and again.stdout.startswith("up to date")
    assert "removed a temporary file" in again.stderr and not left.exists()


def test_the_temporary_file_of_a_running_writer_is_left_alone(tmp_path):
    target = tmp_path / "page.md"
    busy = tmp_path / f".page.md.gatecalc-{os.getpid()}-abcdefgh.tmp"
    busy.write_text("being written")
    assert writer.remove_stale_temporaries([target]) == []
    assert busy.exists()


def test_verify_check_of_a_spec_leaves_no_folder_in_the_temporary_directory(tmp_path):
    spec, scratch = spec_named(tmp_path), tmp_path / "scratch"
    scratch.mkdir()
    env = dict(os.environ, TMPDIR=str(scratch))
    result = run("-m", "verify", "check", str(spec), env=env)
    assert result.returncode == 0, result.stderr
    assert tempfile.gettempdir() != str(scratch)
    assert list(scratch.iterdir()) == []
