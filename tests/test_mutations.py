"""A checker is only worth its name if it fails on a wrong gradient.

Each fault is injected into a copy of a generated module (never the committed file); the copy is
checked with ``python -m verify check --module`` against its spec. Every fault must be caught
(exit 1) with the report naming the array it corrupts. The suite prints the mutation score.
"""

import json
import re
from dataclasses import dataclass

import pytest

from conftest import run
from derive.io import pipeline


@dataclass(frozen=True)
class Fault:
    name: str
    cell: str
    function: str  # the generated function the fault is injected into
    pattern: str  # a regex that must match exactly once inside that function
    replacement: str
    affected: str  # an array whose check must fail
    method: str = "central"


FAULTS = [
    Fault("dropped term", "peephole", "backward",
          r"d_c_prev = d_a_i\*V_i \+ ", "d_c_prev = ", "state0.c"),
    Fault("flipped sign", "lstm", "backward",
          r"seq_dc_da_f = c_prev\*f\*", "seq_dc_da_f = -c_prev*f*", "W_f"),
    Fault("transposed weight gradient", "lstm", "backward",
          r"'U_i': d_stack_h_prev\[0:D\]", "'U_i': d_stack_h_prev[0:D].T", "U_i"),
    Fault("gradient of the wrong time step", "lstm", "backward",
          r"dy\[t\]", "dy[t - 1]", "W_o"),
    Fault("zeroed peephole gradient", "peephole", "backward",
          r"d_V_o = \(seq_c\*seq_d_a_o\)", "d_V_o = 0*(seq_c*seq_d_a_o)", "V_o"),
    Fault("missing state carry", "peephole", "backward",
          r"d_c = d_c_next \+ ", "d_c = ", "state0.c"),
    Fault("derivative at the wrong point", "cifg", "backward",
          r"= i\*\(1 - c_tilde\*\*2\)", "= i*(1 - c_tilde)", "W_c"),
    Fault("coupled gate sign", "cifg", "backward", r"\(c_tilde - c_prev\)", "(c_tilde + c_prev)",
          "b_i"),
    Fault("transposed weight in a step", "lstm", "step_backward",
          r"(d_h_prev = d_a_i @ U_i)\b", r"\1.T", "state0.h", "steps"),
    Fault("dropped term in a step", "lstm", "step_backward",
          r"\n +d_x \+= d_a_f @ W_f\n", "\n", "x", "steps"),
]
caught: list[str] = []


def mutate(fault: Fault, tmp_path):
    source = (pipeline.GENERATED / f"{fault.cell}.py").read_text()
    start = source.index(f"\ndef {fault.function}(")
    end = source.find("\ndef ", start + 1)
    end = len(source) if end < 0 else end
    body, count = re.subn(fault.pattern, fault.replacement, source[start:end])
    assert count == 1, f"fault '{fault.name}' must apply exactly once, applied {count} times"
    path = tmp_path / f"{fault.cell}_mutant.py"
    path.write_text(source[:start] + body + source[end:])
    return path


@pytest.mark.parametrize("fault", FAULTS, ids=[f.name for f in FAULTS])
def test_fault_is_caught_and_named(fault, tmp_path):
    path = mutate(fault, tmp_path)
    report = tmp_path / "report.json"
    result = run("-m", "verify", "check", fault.cell, "--module", str(path),
                 "--method", fault.method, "--json", str(report))
    assert result.returncode == 1, f"'{fault.name}' not caught:\n{result.stdout}"
    failing = {c["wrt"] for r in json.loads(report.read_text())["results"]
               for c in r["checks"] if not c["passed"]}
    assert fault.affected in failing, f"'{fault.name}' failed {failing}, not {fault.affected}"
    assert re.search(rf"FAIL\s+{re.escape(fault.affected)}\s", result.stdout)
    caught.append(fault.name)


def test_unmutated_module_passes_the_same_check(tmp_path):
    """The control: the same command on an unchanged copy passes."""
    path = tmp_path / "lstm_copy.py"
    path.write_text((pipeline.GENERATED / "lstm.py").read_text())
    for method in ("central", "steps"):
        result = run("-m", "verify", "check", "lstm", "--module", str(path), "--method", method)
        assert result.returncode == 0, result.stdout


def test_mutation_score_is_complete(capsys):
    """Runs after the fault tests (file order): every listed fault was caught."""
    with capsys.disabled():
        print(f"\nmutation score: {len(caught)}/{len(FAULTS)} faults caught "
              f"({', '.join(caught)})")
    assert len(caught) == len(FAULTS)
