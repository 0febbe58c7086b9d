"""The command lines a user runs: regen, its --check, codegen, show, list, and bad input."""

import os
import shutil

from conftest import ROOT, run

from derive.io import pipeline


def test_regen_check_passes_on_the_committed_files():
    result = run("-m", "derive", "regen", "--check")
    assert result.returncode == 0, result.stdout + result.stderr


def test_regen_check_reports_a_stale_file_and_changes_nothing(tmp_path):
    """On a copy of the project (never the committed files: tests run in parallel)."""
    project = tmp_path / "project"
    for part in ("derive", "verify", "docs"):
        shutil.copytree(ROOT / part, project / part,
                        ignore=shutil.ignore_patterns("__pycache__", "*.pdf"))
    shutil.copy(ROOT / "pyproject.toml", project)  # regen runs in a source checkout only
    target = project / "derive" / "generated" / "lstm.py"
    target.write_bytes(target.read_bytes().replace(b"def forward", b"def  forward"))
    edited = target.read_bytes()
    env = dict(os.environ, PYTHONPATH=str(project))
    result = run("-m", "derive", "regen", "--check", cwd=project, env=env)
    assert result.returncode == 1, result.stdout + result.stderr
    (line,) = result.stdout.splitlines()  # the one edited file, and nothing else
    assert line.startswith("stale: ") and line.endswith("derive/generated/lstm.py"), line
    assert target.read_bytes() == edited  # --check wrote nothing


def test_codegen_is_byte_identical_across_runs_and_hash_seeds(tmp_path):
    outputs = []
    for seed in ("1", "2"):
        out = tmp_path / seed
        env = dict(os.environ, PYTHONHASHSEED=seed)
        result = run("-m", "derive", "codegen", str(ROOT / "derive/cells/peephole.toml"),
                     "--out", str(out), env=env)
        assert result.returncode == 0, result.stderr
        outputs.append((out / "peephole.py").read_bytes())
    assert outputs[0] == outputs[1]
    assert outputs[0] == (pipeline.GENERATED / "peephole.py").read_bytes()


def test_list_names_every_builtin_cell():
    result = run("-m", "derive", "list")
    names = [line.split()[0] for line in result.stdout.splitlines()]
    assert names == sorted(p.stem for p in pipeline.builtin_spec_paths())
    assert {"lstm", "nfg", "peephole", "cifg"} <= set(names)


def test_show_prints_the_derived_adjoints():
    result = run("-m", "derive", "show", "lstm")
    assert result.returncode == 0
    assert "d_a_i = d_i*i*(1 - i)" in result.stdout
    assert "d_a_c_tilde = d_c_tilde*(1 - c_tilde**2)" in result.stdout
    assert "d_c_prev = d_c*f" in result.stdout


def test_malformed_spec_gives_one_located_error_and_writes_nothing(tmp_path):
    spec = tmp_path / "bad.toml"
    text = (ROOT / "derive/cells/lstm.toml").read_text()
    lines = text.splitlines()
    number = next(k for k, line in enumerate(lines) if line.startswith("c_tilde"))
    lines[number] = "c_tilde = tanh(W_c @ x + U_c @ h_prev + + )"
    spec.write_text("\n".join(lines) + "\n")
    out = tmp_path / "out"
    result = run("-m", "derive", "codegen", str(spec), "--out", str(out))
    assert result.returncode == 2
    first = result.stderr.splitlines()[0]
    assert first.startswith(f"{spec}:{number + 1}:")
    column = int(first.split(":")[2])
    assert lines[number][column - 1] == ")"
    assert "Traceback" not in result.stderr
    assert not out.exists()


def test_verify_check_passes_for_a_builtin_cell_and_prints_errors():
    result = run("-m", "verify", "check", "cifg", "--method", "central")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "PASS  cifg  central" in result.stdout
    assert "W_i" in result.stdout and "state0.c" in result.stdout


def test_generated_modules_are_formatted_to_100_columns_and_compile():
    for path in sorted(pipeline.GENERATED.glob("[!_]*.py")):
        text = path.read_text()
        long = [line for line in text.splitlines() if len(line) > 100]
        assert not long, f"{path.name}: {long[0]}"
        compile(text, str(path), "exec")
        assert "\nimport numpy\n" in text and text.count("import ") == 1  # its one import


def test_verify_check_runs_the_torch_target_through_the_numpy_contract():
    """``--target torch`` checks the torch module (its functions take tensors) through the
    adapter: it raised a TypeError from init_params before."""
    import pytest
    pytest.importorskip("torch", reason="needs the torch extra: pip install -e '.[torch]'")
    result = run("-m", "verify", "check", "gru", "--target", "torch", "--method", "forward")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "PASS  gru  forward  float64" in result.stdout
