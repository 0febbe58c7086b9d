"""The compiled module of a cell: the NumPy module's contract (constants, checks, init_params,
step functions, forward, backward, zero_state) with the time loops compiled by numba.

Printed from the same loop IR as the NumPy module (``derive/targets/lower``) by
``CompiledCodePrinter``; only the loops differ. The module imports ``runtime`` (numba, the
vectorisable ``tanh``/``sigmoid`` ufuncs, the cache folder); without numba importing it says
which extra to install.
"""

from __future__ import annotations

from derive.ad.adjoint import Derivation
from derive.errors import GenerationError
from derive.targets.compiled.printer import CompiledCodePrinter
from derive.targets.layout import wrap_long_lines
from derive.targets.lower import (lower_backward, lower_forward, lower_step_backward,
                                  lower_step_forward)
from derive.targets.numpy.checks import CHECKS
from derive.targets.numpy.module import (_constants, _init_params, _module_header,
                                         _zero_state)
from derive.targets.plan import make_plan

IMPORTS = '''import numpy

from derive.targets.compiled.runtime import JIT, SIGNATURES, numba, sigmoid, tanh
'''

DTYPE_CHECK = '''DTYPES = tuple(numpy.dtype(signature.split("(")[0]) for signature in SIGNATURES)


def _compiled_dtype(checked):
    """The checks' results (steps, batch, dtype, ...), refusing a dtype the compiled loops are
    not built for."""
    dtype = checked[2]
    if dtype not in DTYPES:
        raise TypeError(f"the compiled module runs in {', '.join(map(str, DTYPES))}, not "
                        f"{dtype}: cast the arrays, or use the NumPy module")
    return checked
'''


def generate_module(derivation: Derivation) -> str:
    """Source of the compiled module; the same derivation always gives the same bytes."""
    cell = derivation.cell
    plan = make_plan(derivation)
    printer = CompiledCodePrinter()
    functions = [printer.doprint(f) for f in (
        lower_step_forward(derivation), lower_step_backward(derivation),
        lower_forward(derivation, plan), lower_backward(derivation, plan))]
    head = _module_header(cell).replace(
        ": forward and backward through time.", ": forward and backward through time, the "
        "time loops compiled by numba.", 1)
    parts = [head, IMPORTS, _constants(derivation, plan), CHECKS, DTYPE_CHECK, _init_params(cell),
             *[printer.print_kernel(k) for k in printer.kernels], *functions, _zero_state()]
    source = wrap_long_lines("\n\n\n".join(part.rstrip("\n") for part in parts) + "\n")
    try:
        compile(source, f"{cell.name}.py", "exec")
    except SyntaxError as error:
        raise GenerationError(f"generated compiled code for cell '{cell.name}' does not compile "
                              f"(a bug in gatecalc, please report it): line {error.lineno}: "
                              f"{error.msg}")
    return source
