"""Every generated name, in one place, shared by the NumPy and LaTeX printers.

Code names are the spec's names (``c_tilde``, ``W_i``); the derivation adds ``a_<v>`` for a
pre-activation, ``<A>_<v>`` for a linear map's result and ``d_<v>`` for an adjoint. LaTeX names
follow the article's notation: ``\\tilde{c}_t``, ``h_{t-1}``, ``W_i``, ``\\delta c_t``.
"""

from __future__ import annotations

import keyword
import re
import sys

from derive.ad.blocks import FUNCTIONS
from derive.ad.cell import Cell
from derive.errors import Location, SpecError
from derive.targets.bound import BOUND_NAMES

PREV_SUFFIX = "_prev"
ADJOINT_PREFIX = "d_"
NEXT_SUFFIX = "__next"  # a value of the step after (spec names may not hold "__")


def adjoint_name(name: str) -> str:
    return f"{ADJOINT_PREFIX}{name}"


def pre_activation_name(name: str) -> str:
    return f"a_{name}"


def linear_map_name(matrix: str, operand: str) -> str:
    return f"{matrix}_{operand}"


def _latex_base(name: str) -> str:
    """``c_tilde`` -> ``\\tilde{c}``, ``W_i`` -> ``W_{i}``, ``b_hn`` -> ``b_{hn}``."""
    parts = name.split("_")
    head, rest = parts[0], parts[1:]
    accents = {"tilde": r"\tilde", "hat": r"\hat", "bar": r"\bar"}
    while rest and rest[0] in accents:
        head = f"{accents[rest.pop(0)]}{{{head}}}"
    if len(head) > 1 and not head.startswith("\\"):
        head = rf"\mathit{{{head}}}"
    return head + (f"_{{{','.join(rest)}}}" if rest else "")


def latex_name(name: str, cell: Cell, time: str = "t") -> str:
    r"""LaTeX for a code name in one step of ``cell``; per-step values carry the time index:
    ``c_tilde`` -> ``\tilde{c}_{t}``, ``h_prev`` -> ``h_{t-1}``, ``a_c_tilde`` ->
    ``a_{\tilde{c},t}``, ``d_c`` -> ``\delta c_{t}``, ``W_i_x`` -> ``W_{i} x_{t}``."""
    params = {p.name for p in cell.params}
    if name.endswith(NEXT_SUFFIX):
        return latex_name(name[: -len(NEXT_SUFFIX)], cell, f"{time}+1")
    if name.startswith(ADJOINT_PREFIX):
        inner = latex_name(name[len(ADJOINT_PREFIX):], cell, time)
        product = any(str(m.symbol) == name[len(ADJOINT_PREFIX):] for m in cell.linear_maps)
        return rf"\delta({inner})" if product else rf"\delta {inner}"
    if name in params:
        return _latex_base(name)
    for m in cell.linear_maps:
        if str(m.symbol) == name:
            return f"{_latex_base(m.matrix)} {latex_name(m.operand, cell, time)}"
    step = time
    if name.endswith(PREV_SUFFIX) and name[: -len(PREV_SUFFIX)] in cell.state_names:
        name, step = name[: -len(PREV_SUFFIX)], _previous(time)
    targets = {eq.target for eq in cell.equations}
    if name.startswith("a_") and name[2:].rstrip("_") in targets and name not in targets:
        return f"a_{{{_latex_base(name[2:].rstrip('_'))},{step}}}"
    base = _latex_base(name)
    match = re.fullmatch(r"(.*)_\{(.*)\}", base)
    if match:
        return f"{match.group(1)}_{{{match.group(2)},{step}}}"
    return f"{base}_{{{step}}}"


def _previous(time: str) -> str:
    """The step before ``time``: ``t-1``; ``t`` before ``t+1``; ``1`` before ``2``."""
    if time.isdigit():
        return str(int(time) - 1)
    return time[:-2] if time.endswith("+1") else f"{time}-1"


def fresh_name(name: str, taken: set[str]) -> str:
    """``name``, or ``name_``, ``name__``, ...: the first not in ``taken``."""
    while name in taken:
        name += "_"
    return name


# Modules a generated module imports, for any target (NumPy today; PyTorch and a compiled target
# next): a cell may not take their names, and a module file may not be named after them.
IMPORTED_MODULES = frozenset({"numpy", "math", "torch", "numba", "scipy", "derive", "hashlib",
                              "os", "platform", "subprocess", "time", "warnings"})
# derive: the compiled modules import their vectorisable tanh and sigmoid from
# derive.targets.compiled.runtime; hashlib, os, platform, subprocess, time, warnings: the torch
# modules build their fused kernels with them
# Locals the sequence code names through its fresh-name allocator: when a cell takes one of these
# names (a state 'k'), the code renames its own ('k_'); so a cell may use them.
GENERATED_LOCALS = frozenset({"gates", "gate_scale", "gate_shift", "block", "start", "stop", "k"})
# Every name a generated module binds or reads that is not made from the cell's own names: its
# module constants, functions, arguments, locals and the built-ins it calls. One constant, checked
# against every generated module by tests/test_naming.py (which parses them all).
RESERVED = frozenset(
    {"PARAMS", "SIZES", "CELL", "INPUT", "STATE", "STATE_DIMS", "OUTPUT", "INIT", "CACHE",
     "SPEC_SHA256", "GATECALC_VERSION",
     "init_params", "step_forward", "step_backward", "forward", "backward", "zero_state",
     "params", "state", "state_new", "cache", "grads", "d_state", "d_state_new", "x_t",
     "step_cache", "rng", "dtype", "T", "B", "t", "y", "xs", "kept", "flat", "steps", "batch",
     "dx", "state0", "state_T", "d_state_T", "d_state0", "dy", "sizes", "scale", "value",
     "name", "shape", "dim", "dims", "a", "out", "input_size", "hidden_size",
     "range", "reversed", "dict", "tuple", "len", "zip", "sum", "float", "int", "max", "min",
     "abs", "print", "list", "set", "isinstance", "ValueError", "TypeError", "KeyError",
     "True", "False", "None"}
) | frozenset(FUNCTIONS) | IMPORTED_MODULES | BOUND_NAMES
# Prefixes of the names the generated code makes from the cell's names (adjoints, stacked maps,
# per-step sequences, flattened and summed adjoints).
RESERVED_PREFIXES = ("d_", "maps_", "stack_", "seq_", "flat_", "sum_")
IDENTIFIER = re.compile(r"[A-Za-z][A-Za-z0-9_]*\Z")


def name_problem(name: object, what: str) -> str | None:
    """Why ``name`` cannot be a user-supplied name (``what``: "parameter", "state", ...), or
    None. The one identifier check: every name in a spec goes through it."""
    problem = _identifier_problem(name, what)
    if problem:
        return problem
    if name in RESERVED:
        return f"{what} '{name}' is reserved by the generated code"
    if name.startswith(RESERVED_PREFIXES):
        if name.startswith(ADJOINT_PREFIX):
            return f"{what} '{name}': names starting with 'd_' are reserved for adjoints"
        return (f"{what} '{name}': names starting with "
                f"{', '.join(repr(p) for p in RESERVED_PREFIXES[1:])} are reserved by the "
                "generated code")
    return None


def module_name_problem(name: object) -> str | None:
    """The identifier check for a cell's name, which names a module file (and no variable): it
    may not shadow a module the generated code imports, nor one of Python's standard library."""
    problem = _identifier_problem(name, "cell name")
    if problem is None and (name in IMPORTED_MODULES or name in sys.stdlib_module_names):
        problem = (f"cell name '{name}' is the name of a Python module: '{name}.py' would shadow "
                   "it for every program in its folder")
    return problem


def _identifier_problem(name: object, what: str) -> str | None:
    if isinstance(name, str) and "__" in name:
        return f"{what} '{name}': names with '__' are not allowed"
    if not isinstance(name, str) or not IDENTIFIER.match(name):
        return f"{what} {name!r} is not a valid name (a letter, then letters, digits, '_')"
    if keyword.iskeyword(name):
        return f"{what} '{name}' is a Python keyword"
    return None


def check_name(name: object, what: str, location: Location) -> None:
    problem = name_problem(name, what)
    if problem:
        raise SpecError(problem, location)
