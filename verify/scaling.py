"""Benchmark row: code generation time against the number of equations, on the cell that made it
explode (issue 15): a chain of intermediates with fan-in two, ``z_k = tanh(z_{k-1} + z_{k-2}) * o``.

Each size runs in a fresh process (this project's code, whatever the current folder) with a
time limit, so a size that does not finish costs the limit and is printed as "> N s"; larger
sizes are then not run, and say so. Derivation and code generation scale linearly when the
seconds per equation stay flat along the row.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

COUNTS = (10, 20, 40, 80)
TIMEOUT_SECONDS = 30.0
ROOT = Path(__file__).resolve().parents[1]


def chain_spec(equations: int) -> str:
    """A cell of exactly ``equations`` equations: a gate o, then z_1 .. z_{n-2} each the tanh of
    the two before it times o, and h the last of the chain."""
    if equations < 4:
        raise ValueError("a fan-in-two chain needs at least 4 equations")
    lines = ["o = sigmoid(W_o @ x + U_o @ h_prev + b_o)",
             "z1 = tanh(W_z @ x + U_z @ h_prev) * o",
             "z2 = tanh(z1 + h_prev) * o"]
    lines += [f"z{k} = tanh(z{k - 1} + z{k - 2}) * o" for k in range(3, equations - 1)]
    lines.append(f"h = tanh(z{equations - 2} + z{equations - 3}) * o")
    return "\n".join([
        f'name = "chain{equations}"', 'sizes = { M = "input_size", D = "hidden_size" }',
        'input = { x = "M" }', 'state = { h = "D" }', 'output = "h"',
        'equations = """', *lines, '"""', "", "[params]",
        'W_o = ["D", "M"]', 'U_o = ["D", "D"]', 'b_o = ["D"]', 'W_z = ["D", "M"]',
        'U_z = ["D", "D"]']) + "\n"


# run in the child: derive and print the module of the spec in argv[1], print the seconds
_CHILD = """
import sys, time
from pathlib import Path
from derive.io import pipeline
start = time.perf_counter()
pipeline.module_artifact(pipeline.derivation_of(Path(sys.argv[1])), Path(sys.argv[1]).parent)
print(time.perf_counter() - start)
"""


def codegen_seconds(equations: int, folder: Path, timeout: float = TIMEOUT_SECONDS):
    """Seconds to derive and generate the chain's module (measured in the child, so the
    interpreter's start is not counted), or None when it did not finish within ``timeout``."""
    spec = folder / f"chain{equations}.toml"
    spec.write_text(chain_spec(equations), encoding="utf-8")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [str(ROOT)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]))
    try:
        done = subprocess.run([sys.executable, "-c", _CHILD, str(spec)], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=timeout, check=True)
    except subprocess.TimeoutExpired:
        return None
    return float(done.stdout.strip().splitlines()[-1])


def bench_scaling(counts=COUNTS, timeout: float = TIMEOUT_SECONDS) -> list[dict]:
    """One row per count: seconds (None: over the limit; "skipped": a smaller chain was)."""
    import tempfile
    rows, over = [], False
    with tempfile.TemporaryDirectory(prefix="gatecalc-bench-") as folder:
        for n in counts:
            seconds = "skipped" if over else codegen_seconds(n, Path(folder), timeout)
            over = over or seconds is None
            rows.append({"equations": n, "seconds": seconds, "timeout_seconds": timeout})
    return rows


def table(rows: list[dict]) -> list[str]:
    def cell(r):
        if r["seconds"] is None:
            return f"> {r['timeout_seconds']:g} s"
        if r["seconds"] == "skipped":
            return "not run"
        return f"{r['seconds']:.2f} s"

    def per_equation(r):
        return (f"{1e3 * r['seconds'] / r['equations']:.1f} ms"
                if isinstance(r["seconds"], float) else "-")

    return ["codegen (derive + print) vs number of equations, fan-in-two chain "
            "z_k = tanh(z_{k-1} + z_{k-2}) * o, each in a fresh process:",
            f"{'equations':<14}" + "".join(f"{r['equations']:>12}" for r in rows),
            f"{'seconds':<14}" + "".join(f"{cell(r):>12}" for r in rows),
            f"{'per equation':<14}" + "".join(f"{per_equation(r):>12}" for r in rows)]
