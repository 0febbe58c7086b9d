"""Lowering: a derivation and its plan -> loop IR (``derive/targets/ir.py``), every name chosen.

Pure functions, one module per generated function family: ``steps`` (step_forward,
step_backward), ``forward`` and ``backward`` (the sequence functions, organised for speed as
``derive/targets/plan.py`` decides), ``recompute`` (the forward's step over all steps at once,
from saved states). Each optimisation is a separate function of the lowering
or a rewrite in ``rewrites``, so it can be printed and tested on its own.
"""

from derive.targets.lower.backward import lower_backward
from derive.targets.lower.forward import lower_forward
from derive.targets.lower.recompute import lower_recompute
from derive.targets.lower.steps import lower_step_backward, lower_step_forward

__all__ = ["lower_forward", "lower_backward", "lower_recompute", "lower_step_forward",
           "lower_step_backward"]
