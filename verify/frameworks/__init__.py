"""Runners of the real frameworks: build the layer a Layout names, load weights, run it on an input
and initial state, and return its output, final state and (where it gives them) gradients."""

from __future__ import annotations

from dataclasses import dataclass

import numpy

from derive.errors import UsageError


@dataclass(frozen=True)
class Run:
    y: numpy.ndarray                  # (T, B, size of the output)
    state_T: dict[str, numpy.ndarray]  # the cell's state names -> (B, size)
    grads: dict[str, numpy.ndarray] | None  # framework array names, "x", "state0.<s>"
    version: str                      # the framework's version


class MissingFramework(UsageError):
    """The framework is not installed: the message names the extra."""


def require(module: str):
    import importlib
    try:
        return importlib.import_module(module)
    except ImportError:
        raise MissingFramework(f"{module} is not installed: pip install -e '.[interop]'") from None
