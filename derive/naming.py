"""Every generated name, in one place, shared by the NumPy and LaTeX printers.

Code names are the spec's names (``c_tilde``, ``W_i``); the derivation adds ``a_<v>`` for a
pre-activation, ``<A>_<v>`` for a linear map's result and ``d_<v>`` for an adjoint. LaTeX names
follow the article's notation: ``\\tilde{c}_t``, ``h_{t-1}``, ``W_i``, ``\\delta c_t``.
"""

from __future__ import annotations

import keyword
import re

from derive.ad.blocks import FUNCTIONS
from derive.ad.cell import Cell
from derive.errors import Location, SpecError

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


# Names the generated code uses for itself; a cell may not take them.
RESERVED = frozenset(
    {"numpy", "params", "state", "state_new", "cache", "grads", "d_state", "d_state_new",
     "x_t", "step_cache", "rng", "dtype", "T", "B", "t", "y", "range", "reversed", "dict",
     "tuple", "len", "zip", "sum", "float", "xs", "kept", "flat", "steps", "batch", "dx",
     "state0", "state_T", "d_state_T", "d_state0", "dy", "zero_state", "sizes", "scale",
     "value", "name", "shape", "dims"}
) | frozenset(FUNCTIONS)
IDENTIFIER = re.compile(r"[A-Za-z][A-Za-z0-9_]*\Z")


def check_name(name: str, what: str, location: Location) -> None:
    if "__" in name:
        raise SpecError(f"{what} '{name}': names with '__' are not allowed", location)
    if not IDENTIFIER.match(name) or keyword.iskeyword(name):
        raise SpecError(f"{what} '{name}' is not a valid name (letters, digits, '_')", location)
    if name in RESERVED:
        raise SpecError(f"{what} '{name}' is reserved by the generated code", location)
    if name.startswith(("maps_", "stack_", "seq_")):
        raise SpecError(f"{what} '{name}': names starting with 'maps_', 'stack_' or 'seq_' are "
                        "reserved by the generated code", location)
    if name.startswith("d_"):
        raise SpecError(f"{what} '{name}': names starting with 'd_' are reserved for adjoints",
                        location)
