"""Random valid cells verify: any cell the grammar accepts is generated, and its module passes
forward, exact, central and steps.

The strategy builds spec text from the grammar's parts: gates (a building block of a sum of
linear maps of the input and h_prev, an optional peephole of a state, an optional bias),
intermediates (products, sums, differences, divisions by safe denominators such as
1 + sigmoid(.), powers, blocks of blocks, linear maps of an earlier intermediate), one to three
states each updated by such an expression, and a late gate that peeks at a new state.

The same cells are also generated for the compiled and torch targets and pass the same checks
there (the compiled module run as its printed Python, the torch module as torch operations: see
the loaders below).

Few examples by default, to keep CI fast; GATECALC_RANDOM_CELLS=N runs N examples
(e.g. ``GATECALC_RANDOM_CELLS=200 python -m pytest tests/test_random_cells.py``).
"""

import os
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from derive.io import pipeline
from derive.io.writer import write_all
from verify.gradcheck import Sizes, check, make_problem, reference_sizes
from verify.targets import _contract, import_file

EXAMPLES = int(os.environ.get("GATECALC_RANDOM_CELLS", "3"))

# an intermediate from earlier vectors a, b: every denominator is at least 1
FORMS = ("{a} * {b}", "{a} + {b}", "{a} - {b}", "{a} / (1 + sigmoid({b}))", "{a} * (1 - {b})",
         "tanh({a}) * {b}", "{a}**2", "exp(tanh({a}))", "log(1 + sigmoid({a}))",
         "{a} / (2 + tanh({b}))", "0.5 * {a} + {b}**3")
# a state's new value from earlier vectors a, b and its own previous value p
UPDATES = ("sigmoid({a}) * {p} + {b}", "{a} * {p} + (1 - {a}) * {b}", "tanh({a} + {p} * {b})",
           "{b} - {p} / (1 + sigmoid({a}))")


@st.composite
def cells(draw):
    """(spec text, name) of a random cell the grammar accepts."""
    states = ["h"] + [f"s{k}" for k in range(draw(st.integers(0, 2)))]
    vectors = [f"{s}_prev" for s in states]
    params, lines = {}, []

    def gate(name, peek_at):
        block = draw(st.sampled_from(("sigmoid", "tanh")))
        params[f"W_{name}"], params[f"U_{name}"] = ["D", "M"], ["D", "D"]
        terms = [f"W_{name} @ x", f"U_{name} @ h_prev"]
        if peek_at is not None:
            params[f"V_{name}"] = ["D"]
            terms.append(f"V_{name} * {peek_at}")
        if draw(st.booleans()):
            params[f"b_{name}"] = ["D"]
            terms.append(f"b_{name}")
        lines.append(f"{name} = {block}({' + '.join(terms)})")
        vectors.append(name)

    for k in range(draw(st.integers(1, 3))):
        gate(f"g{k}", draw(st.none() | st.sampled_from(vectors[:len(states)])))
    for k in range(draw(st.integers(0, 3))):
        a, b = draw(st.sampled_from(vectors)), draw(st.sampled_from(vectors))
        if k and draw(st.booleans()):  # a linear map of an earlier intermediate
            params[f"R_{k}"] = ["D", "D"]
            lines.append(f"m{k} = R_{k} @ m{k - 1}")
        else:
            form = draw(st.sampled_from(FORMS))
            if form == "{a} - {b}":  # a - a is the number 0, which the grammar refuses
                b = draw(st.sampled_from([v for v in vectors if v != a]))
            lines.append(f"m{k} = " + form.format(a=a, b=b))
        vectors.append(f"m{k}")
    for s in reversed(states):  # h last: it may read the other new states
        a, b = draw(st.sampled_from(vectors)), draw(st.sampled_from(vectors))
        if s == "h" and len(states) > 1 and draw(st.booleans()):
            gate("late", states[-1])  # peeks at a new state
            a = "late"
        lines.append(f"{s} = " + draw(st.sampled_from(UPDATES)).format(a=a, b=b, p=f"{s}_prev"))
        vectors.append(s)
    text = "\n".join([
        'name = "rnd"', 'sizes = { M = "input_size", D = "hidden_size" }', 'input = { x = "M" }',
        "state = { " + ", ".join(f'{s} = "D"' for s in states) + " }", 'output = "h"',
        'equations = """', *lines, '"""', "", "[params]",
        *(f"{p} = {shape}".replace("'", '"') for p, shape in params.items())])
    return text + "\n"


def _checks_pass(module, cell, spec, seed, target="numpy"):
    for method in ("forward", "exact", "central", "steps"):
        sizes = reference_sizes() if method in ("forward", "exact") else Sizes(4, 3, 3, 4)
        result = check(make_problem(module, sizes, seed), method, cell=cell)
        failed = [(c.wrt, c.normwise_rel_err, c.extra) for c in result.checks if not c.passed]
        assert result.passed, f"{target}: {method} fails on\n{spec}\n{failed}"


def _generated(spec, folder, target="numpy"):
    """(module file, cell) of the spec text generated for ``target`` in ``folder``."""
    path = Path(folder) / "rnd.toml"
    path.write_text(spec, encoding="utf-8")
    derivation = pipeline.derivation_of(path)
    artifact = pipeline.module_artifact(derivation, Path(folder) / target, target)
    write_all([artifact])
    return artifact.path, derivation.cell


@settings(max_examples=EXAMPLES, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(spec=cells(), seed=st.integers(0, 2**16))
def test_a_random_valid_cell_generates_a_module_that_passes_the_checks(spec, seed):
    with tempfile.TemporaryDirectory(prefix="gatecalc-test-") as folder:
        path, cell = _generated(spec, folder)
        _checks_pass(import_file(path), cell, spec, seed)


def _compiled_as_python(path):
    """The compiled module with numba's JIT off while it is imported: its functions are the
    printed Python itself (compiling each random cell would take 10 to 20 s). This checks what
    the compiled printer and lowering wrote, not numba's typing of it, which the built-in
    cells' compiled tests cover."""
    import numba
    saved = numba.config.DISABLE_JIT
    numba.config.DISABLE_JIT = True
    try:
        return import_file(path)
    finally:
        numba.config.DISABLE_JIT = saved


def _torch_operations(path):
    """The torch module with its fused C++ kernels off (building them takes about 20 s a cell):
    the loops as the torch printer wrote them. The kernels' printer is checked over random
    expressions in tests/test_printers.py and on every built-in cell."""
    module = import_file(path)
    module.FUSED = False
    return module


@pytest.mark.parametrize("target, extra, load", [
    ("compiled", "fast", _compiled_as_python), ("torch", "torch", _torch_operations)])
def test_a_random_valid_cell_passes_the_checks_on_every_target(target, extra, load):
    pytest.importorskip({"fast": "numba", "torch": "torch"}[extra],
                        reason=f"needs the {extra} extra: pip install -e '.[{extra}]'")

    @settings(max_examples=EXAMPLES, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(spec=cells(), seed=st.integers(0, 2**16))
    def passes(spec, seed):
        with tempfile.TemporaryDirectory(prefix="gatecalc-test-") as folder:
            path, cell = _generated(spec, folder, target)
            _checks_pass(_contract(load(path)), cell, spec, seed, target)

    passes()


def test_the_strategy_builds_what_it_says():
    """The strategy reaches every part of the grammar it claims (a strategy that silently built
    only one shape of cell would make the property above weak)."""
    seen = set()

    @settings(max_examples=150, deadline=None, database=None)
    @given(spec=cells())
    def collect(spec):
        seen.update(part for part in ("V_", "R_", "/ (1 + sigmoid(", "s1 =", "late =", "exp(",
                                      "log(", "**2") if part in spec)

    collect()
    assert seen == {"V_", "R_", "/ (1 + sigmoid(", "s1 =", "late =", "exp(", "log(", "**2"}

