"""PyTorch target: a Derivation -> the source text of one generated torch module.

The functions of the NumPy module's contract (step_forward, step_backward, forward, backward)
are the same loop IR, lowered once from the same plan, printed by ``FusingTorchCodePrinter``:
torch operations, and beside each time loop the call of the same loop in C++ (``loops.py``),
its elementwise runs fused kernels (``kernels.py``; the module carries its source and loader).
Around them, the parts that read only the module's constants (``autograd.py``): init_params,
argument checks, the autograd.Function over the whole sequence and the nn.Module. The module
imports only torch (and the standard library to build its kernels).
"""

from __future__ import annotations

from derive.ad.adjoint import Derivation
from derive.errors import GenerationError
from derive.targets.layout import wrap_long_lines
from derive.targets.lower import (lower_backward, lower_forward, lower_recompute,
                                  lower_step_backward, lower_step_forward)
from derive.targets.lower.recompute import recompute_reads
from derive.targets.numpy.module import _constants, _module_header
from derive.targets.plan import make_plan
from derive.targets.torch import autograd
from derive.targets.torch import kernels
from derive.targets.torch.printer import FusingTorchCodePrinter

ZERO_STATE = '''def zero_state(params, batch, dtype):
    """The state of all zeros, {name: (batch, size)}, sizes read off the parameters."""
    sizes = {}
    for name, dims in PARAMS.items():
        sizes.update(zip(dims, params[name].shape))
    device = next(iter(params.values())).device
    return {name: torch.zeros((batch, sizes[dim]), dtype=dtype, device=device)
            for name, dim in STATE_DIMS.items()}
'''


def generate_module(derivation: Derivation) -> str:
    """Source of the generated torch module; the same derivation always gives the same bytes."""
    cell = derivation.cell
    autograd.check_names(cell)
    plan = make_plan(derivation)
    printer = FusingTorchCodePrinter()
    header = _module_header(cell).replace(": forward and backward through time.",
                                          ": forward and backward through time\n(PyTorch module).", 1)
    head = "\n".join([header, "import torch\n", _constants(derivation, plan)])
    functions = (lower_step_forward(derivation), lower_step_backward(derivation),
                 lower_forward(derivation, plan), lower_backward(derivation, plan),
                 lower_recompute(derivation, plan))
    parts = [head, autograd.CHECKS, autograd.init_params(cell),
             *[printer.doprint(function) for function in functions], ZERO_STATE,
             autograd.function(cell, recompute_reads(derivation, plan)),
             autograd.cell_module(cell)]
    if printer.kernels:
        names = tuple(printer.exported)
        parts += [kernels.loader(), f"KERNEL_NAMES = {names!r}"]
    source = wrap_long_lines("\n\n\n".join(part.rstrip("\n") for part in parts) + "\n")
    if printer.kernels:  # C++, not wrapped as Python
        source += ("\n\n# the fused kernels, C++ (built by _build_kernels)\n"
                   f'KERNELS = r"""{kernels.source(printer.kernels)}"""\n')

    try:  # a printer bug must stop here, before any file is written
        compile(source, f"{cell.name}.py", "exec")
    except SyntaxError as error:
        raise GenerationError(f"generated torch code for cell '{cell.name}' does not compile (a "
                              f"bug in gatecalc, please report it): line {error.lineno}: "
                              f"{error.msg}")
    return source
