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
from verify.gradcheck import Sizes, check, make_problem, reference_sizes
from verify.targets import load_target


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
    Fault("default d_state_T reads a weight of 1", "lstm", "backward",
          r"d_state_T\.get\('h', 0\)", "d_state_T.get('h', 1)", "d_state_T=None", "steps"),
    Fault("block-local index lost", "lstm", "backward",
          r"\bk = t - start\b", "k = t", "backward", "central"),
    Fault("block-local index shifted the wrong way", "peephole", "backward",
          r"\bk = t - start\b", "k = t + start", "backward", "steps"),
    # three faults that give the right numbers when 2 + D == 2·D or T·B == T + B (exact's sizes
    # were D = 2, T = B = 2): exact must catch them at its own tiny sizes
    Fault("slice end 2+D for 2*D", "lstm", "backward",
          r"'U_f': d_stack_h_prev\[D:2\*D\]", "'U_f': d_stack_h_prev[D:2+D]", "U_f", "exact"),
    Fault("slice end D+2 for 2*D", "gru", "backward",
          r"d_b_hz = sum_d_maps_x\[D:2\*D\]", "d_b_hz = sum_d_maps_x[D:D+2]", "b_hz", "exact"),
    Fault("steps+batch rows for steps*batch", "peephole", "backward",
          r"flat = steps\*batch", "flat = steps + batch", "backward", "exact"),
    # each new method, and the escalation of a failed direction, names the array it catches
    Fault("NaN in a gradient", "lstm", "backward",
          r"'b_o': sum_d_maps_x\[3\*D:4\*D\]", "'b_o': sum_d_maps_x[3*D:4*D]*numpy.nan",
          "b_o", "central"),
    Fault("gradient scaled by the batch size", "lstm", "backward",
          r"'b_i': sum_d_maps_x\[0:D\]", "'b_i': batch*sum_d_maps_x[0:D]", "b_i", "batch"),
    Fault("gradient that changes from call to call", "gru", "backward",
          r"d_b_hz = sum_d_maps_x\[D:2\*D\]\.copy\(\)",
          "d_b_hz = sum_d_maps_x[D:2*D] + 1e-3*numpy.random.random(D)", "b_hz", "determinism"),
    Fault("flipped sign seen along directions", "lstm", "backward",
          r"seq_dc_da_f = c_prev\*f\*", "seq_dc_da_f = -c_prev*f*", "W_f", "directional"),
]


def mutate(fault: Fault, tmp_path):
    source = (pipeline.GENERATED / f"{fault.cell}.py").read_text()
    start = source.index(f"\ndef {fault.function}(")
    end = source.find("\ndef ", start + 1)
    end = len(source) if end < 0 else end
    body, count = re.subn(fault.pattern, fault.replacement, source[start:end])
    assert count == 1, f"fault '{fault.name}' must apply exactly once, applied {count} times"
    path = tmp_path / f"{fault.cell}_{abs(hash(fault.name))}_mutant.py"
    path.write_text(source[:start] + body + source[end:])
    return path


def failing_arrays(fault: Fault, path) -> set[str]:
    """The arrays (or functions) whose check fails, by the checker's API in this process."""
    target = load_target(fault.cell, str(path))
    sizes = reference_sizes() if fault.method in ("forward", "exact") else DEFAULT_SIZES
    problem = make_problem(target.module, sizes, seed=0)
    return {c.wrt for c in check(problem, fault.method, cell=target.cell).checks if not c.passed}


DEFAULT_SIZES = Sizes(T=4, B=3, M=3, D=4)  # the command line's default --sizes


@pytest.mark.parametrize("fault", FAULTS, ids=[f.name for f in FAULTS])
def test_fault_is_caught_and_named(fault, tmp_path):
    path = mutate(fault, tmp_path)
    report = tmp_path / "report.json"
    result = run("-m", "verify", "check", fault.cell, "--module", str(path),
                 "--method", fault.method, "--json", str(report))
    assert result.returncode == 1, f"'{fault.name}' not caught:\n{result.stdout}"
    assert "Traceback" not in result.stderr, result.stderr
    failing = {c["wrt"] for r in json.loads(report.read_text())["results"]
               for c in r["checks"] if not c["passed"]}
    assert fault.affected in failing, f"'{fault.name}' failed {failing}, not {fault.affected}"
    assert re.search(rf"FAIL\s+{re.escape(fault.affected)}\s", result.stdout)


def test_unmutated_module_passes_the_same_check(tmp_path):
    """The control: the same command on an unchanged copy passes."""
    path = tmp_path / "lstm_copy.py"
    path.write_text((pipeline.GENERATED / "lstm.py").read_text())
    result = run("-m", "verify", "check", "lstm", "--module", str(path))
    assert result.returncode == 0, result.stdout


def test_mutation_score_is_complete(tmp_path, capsys):
    """Every listed fault, checked here (not read from the other tests, so it holds alone, in
    any order and in parallel), is caught and names the array it corrupts."""
    caught = [f.name for f in FAULTS if f.affected in failing_arrays(f, mutate(f, tmp_path))]
    with capsys.disabled():
        print(f"\nmutation score: {len(caught)}/{len(FAULTS)} faults caught")
    assert caught == [f.name for f in FAULTS]
