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
from dataclasses import replace

from derive.targets.compiled.printer import CompiledCodePrinter
from derive.targets.compiled.stepped import SteppedCodePrinter
from derive.targets.layout import wrap_long_lines
from derive.targets.lower import (lower_backward, lower_forward, lower_step_backward,
                                  lower_step_forward)
from derive.targets.numpy.checks import CHECKS
from derive.targets.numpy.module import (_constants, _init_params, _module_header,
                                         _zero_state)
from derive.targets.plan import make_plan

IMPORTS = '''import numpy

from derive.targets.compiled.runtime import (JIT, SIGNATURES, numba, one_blas_thread, sigmoid,
                                             tanh)
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


STEPPED_FROM = STEPPED_FROM_VALUES
"""From this many values a step (batch x the state's units) on, forward and backward run the
stepped functions printed below (``_stepped_forward``, ``_stepped_backward``: the time loop in
Python, NumPy's matrix products on every BLAS thread, each run of elementwise statements one
compiled call) instead of the compiled loops: there the per-step products dominate, and NumPy's
are faster than the single-threaded ones inside a compiled loop. Measured with ``python -m
verify bench`` (see the README); read at call time, so it may be changed (0: always stepped; a
huge number: always the compiled loops)."""


def _stepped_path(params, batch):
    """True when a step of these parameters and batch holds STEPPED_FROM values or more."""
    units = sum(params[_SIZE_AT[dim][0]].shape[_SIZE_AT[dim][1]] for dim in STATE_DIMS.values()
                if dim in _SIZE_AT)
    return batch * units >= STEPPED_FROM
'''

STEPPED_FROM_VALUES = 4096
"""The threshold every compiled module is generated with (one value for every cell)."""


def generate_module(derivation: Derivation) -> str:
    """Source of the compiled module; the same derivation always gives the same bytes."""
    cell = derivation.cell
    plan = make_plan(derivation)
    printer = CompiledCodePrinter()
    sequence = (lower_forward(derivation, plan), lower_backward(derivation, plan))
    functions = [printer.doprint(f) for f in (
        lower_step_forward(derivation), lower_step_backward(derivation), *sequence)]
    stepped = SteppedCodePrinter()
    doc = ("{} for large sizes (STEPPED_FROM): NumPy's time loop and products, each run of\n"
           "elementwise statements in the loop one compiled call.")
    stepped_path = [stepped.doprint(replace(f, name=f"_stepped_{f.name}", doc=doc.format(f.name)))
                    for f in sequence]
    head = _module_header(cell).replace(
        ": forward and backward through time.", ": forward and backward through time, the "
        "time loops compiled by numba.", 1)
    parts = [head, IMPORTS, _constants(derivation, plan), CHECKS,
             DTYPE_CHECK.replace("STEPPED_FROM_VALUES", str(STEPPED_FROM_VALUES)),
             _init_params(cell), *[printer.print_kernel(k) for k in printer.kernels], *functions,
             *[stepped.print_kernel(k) for k in stepped.kernels], *stepped_path,
             _zero_state()]
    source = wrap_long_lines("\n\n\n".join(part.rstrip("\n") for part in parts) + "\n")
    try:
        compile(source, f"{cell.name}.py", "exec")
    except SyntaxError as error:
        raise GenerationError(f"generated compiled code for cell '{cell.name}' does not compile "
                              f"(a bug in gatecalc, please report it): line {error.lineno}: "
                              f"{error.msg}")
    return source
