"""The checker's own rules: what runs by default, the lowered blocks, the documented methods."""

import re

from conftest import ROOT, run
from derive.io import pipeline
from verify.faults import block_steps
from verify.gradcheck import DEFAULT_METHODS, METHODS, Sizes, check, make_problem
from verify.targets import import_file


def test_the_short_command_runs_every_method_but_exact():
    result = run("-m", "verify", "check", "cifg")
    assert result.returncode == 0, result.stdout + result.stderr
    ran = re.findall(r"^PASS  cifg  (\w+)  ", result.stdout, re.MULTILINE)
    assert ran == list(DEFAULT_METHODS)
    assert {"central", "complex", "directional", "steps", "determinism", "batch"} <= set(ran)
    assert "exact" not in ran


def test_block_lengths_leave_a_boundary_inside_the_sequence():
    for steps in range(2, 30):
        length = block_steps(steps)
        assert 1 <= length <= 3
        assert length == 1 or (steps % length and length < steps), (steps, length)
    assert (block_steps(4), block_steps(3)) == (3, 2)  # the default T and exact's T


def test_every_check_that_runs_backward_crosses_blocks_and_the_value_is_restored(tmp_path):
    path = tmp_path / "lstm_blocks.py"
    path.write_text((pipeline.GENERATED / "lstm.py").read_text())
    module = import_file(path)
    seen = []
    backward = module.backward

    def spying(*args):
        seen.append(module.BLOCK_VALUES // (3 * 4))  # the steps of a block at B = 3, D = 4
        return backward(*args)

    module.backward = spying
    problem = make_problem(module, Sizes(T=4, B=3, M=3, D=4), seed=0)
    for method in METHODS:
        if method not in ("forward", "exact"):
            seen.clear()
            assert check(problem, method).passed, method
            assert seen and set(seen) == {3}, (method, seen)
    assert module.BLOCK_VALUES == 8192


def test_the_readme_documents_every_method():
    text = (ROOT / "README.md").read_text()
    section = text.split("## Verifying", 1)[1].split("\n## ", 1)[0]
    assert re.findall(r"^\| `(\w+)` \|", section, re.MULTILINE) == list(METHODS)
