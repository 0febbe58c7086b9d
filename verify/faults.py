"""A checked module that misbehaves is a failed check, never a traceback.

``named_gradients`` validates what a ``backward`` returns (every gradient present, of its array's
shape, finite) and raises ``ModuleFault`` naming the array; ``as_fault`` turns an exception
raised inside the checked module's own code into a ``ModuleFault`` naming the function and the
line. ``small_blocks`` lowers a module's ``BLOCK_VALUES`` for the duration of a check, so that
every check that runs the blocked backward crosses block boundaries.
"""

from __future__ import annotations

import traceback
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import numpy


@dataclass
class ModuleFault(Exception):
    """The checked module failed: ``wrt`` names the array (or the function) at fault."""

    wrt: str
    message: str

    def __str__(self) -> str:
        return f"{self.wrt}: {self.message}"

    def failed_check(self, threshold: float):
        from .gradcheck import WrtCheck  # gradcheck imports this module
        return WrtCheck(self.wrt, float("nan"), float("nan"), threshold, False, None,
                        {"error": self.message})


def named_gradients(module: ModuleType, arrays: dict, returned) -> dict[str, numpy.ndarray]:
    """``backward``'s (grads, dx, d_state0) as {name: gradient} named like ``arrays`` (params,
    "x", "state0.<s>"), each checked against its array's shape and for NaN or infinity."""
    try:
        grads, dx, d_state0 = returned
    except (TypeError, ValueError):
        raise ModuleFault("backward", "does not return (grads, dx, d_state0)") from None
    out = {}
    for name in arrays:
        if name == "x":
            out[name] = dx
        elif name.startswith("state0."):
            out[name] = _entry(d_state0, name.split(".", 1)[1], name, "d_state0")
        else:
            out[name] = _entry(grads, name, name, "grads")
        value = numpy.asarray(out[name])
        if value.shape != numpy.shape(arrays[name]):
            raise ModuleFault(name, f"backward returns a gradient of shape {value.shape}, "
                                    f"expected {numpy.shape(arrays[name])}")
        if not numpy.all(numpy.isfinite(value)):
            raise ModuleFault(name, "backward returns a gradient with NaN or infinity")
    return out


def _entry(mapping, key: str, name: str, what: str):
    try:
        return mapping[key]
    except (KeyError, TypeError, IndexError):
        raise ModuleFault(name, f"backward's {what} has no entry {key!r}") from None


def as_fault(module: ModuleType, error: Exception) -> ModuleFault | None:
    """The module's own failure as a fault naming the function and line it raised in; None when
    the exception did not pass through the module's code (a bug of the checker)."""
    if isinstance(error, ModuleFault):
        return error
    source = getattr(module, "__file__", None)
    if source is None:
        return None
    frames = [f for f in traceback.extract_tb(error.__traceback__)
              if Path(f.filename).resolve() == Path(source).resolve()]
    if not frames:
        return None
    outer, inner = frames[0], frames[-1]
    return ModuleFault(outer.name, f"raised {type(error).__name__}: {error} (line {inner.lineno}"
                                   f", in {inner.name}: {(inner.line or '').strip()})")


BLOCK_STEPS_MAX = 3


def block_steps(steps: int) -> int:
    """A block length of a few steps that leaves a boundary inside a sequence of ``steps``: the
    smallest of 2..3 that does not divide it (1 when none fits)."""
    for length in range(2, min(BLOCK_STEPS_MAX, steps - 1) + 1):
        if steps % length:
            return length
    return 1


@contextmanager
def small_blocks(module: ModuleType, sizes):
    """Lower the module's ``BLOCK_VALUES`` (values per array in a block of the backward's
    partial derivatives: its block is BLOCK_VALUES // (batch · output size) steps), and the
    torch module's ``FUSED_BLOCK_VALUES`` (the same when its fused kernels run), so that a
    block is ``block_steps(T)`` steps, then restore them. Modules without it are left alone."""
    if not hasattr(module, "BLOCK_VALUES"):
        yield
        return
    dims = sizes.dims(module)
    names = [n for n in ("BLOCK_VALUES", "FUSED_BLOCK_VALUES") if hasattr(module, n)]
    saved = {n: getattr(module, n) for n in names}  # FUSED_: the torch module's fused kernels'
    for name in names:
        setattr(module, name,
                block_steps(sizes.T) * sizes.B * dims[module.STATE_DIMS[module.OUTPUT]])
    try:
        yield
    finally:
        for name, value in saved.items():
            setattr(module, name, value)
