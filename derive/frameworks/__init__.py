"""Which gatecalc cell each framework's recurrent layer is, and its weights converted both ways.

``LAYOUTS``: the one table, every (framework, cell) row, each a frozen ``Layout`` (its modules:
``pytorch``, ``keras3``, ``onnx_ops``, ``flax_linen``). Converting needs numpy only:

    params = from_framework("torch", "lstm", layer.state_dict())
    state_dict = to_framework("torch", "lstm", params)        # {name: ndarray}
"""

from __future__ import annotations

import dataclasses
import importlib

from . import flax_linen, keras3, onnx_ops, pytorch
from .layout import Layout, LayoutError, from_framework as _from, to_framework as _to

MODULES = {m.FRAMEWORK: m for m in (pytorch, keras3, onnx_ops, flax_linen)}
FRAMEWORKS = tuple(MODULES)


def _with_dims(layout: Layout) -> Layout:
    module = importlib.import_module(f"derive.generated.{layout.cell}")  # numpy only
    return dataclasses.replace(layout, dims=dict(module.PARAMS))


LAYOUTS: dict[tuple[str, str], Layout] = {
    (layout.framework, layout.cell): _with_dims(layout)
    for module in MODULES.values() for layout in module.LAYOUTS}


def layout_of(framework: str, cell: str) -> Layout:
    if (framework, cell) not in LAYOUTS:
        cells = ", ".join(c for f, c in LAYOUTS if f == framework)
        if framework not in MODULES:
            raise LayoutError(f"no framework {framework!r} (known: {', '.join(FRAMEWORKS)})")
        raise LayoutError(f"{framework} has no layer that computes {cell!r} (it has: {cells})")
    return LAYOUTS[(framework, cell)]


def to_framework(framework: str, cell: str, params: dict):
    """The cell's parameters -> the framework's weights (numpy arrays, the framework's container:
    a state dict, Keras's weights list, ONNX initialisers by name, Flax's nested params)."""
    layout = layout_of(framework, cell)
    return MODULES[framework].to_native(_to(layout, params), layout)


def from_framework(framework: str, cell: str, weights) -> dict:
    """The framework's weights (its container, tensors or arrays) -> the cell's parameters."""
    layout = layout_of(framework, cell)
    return _from(layout, MODULES[framework].from_native(weights, layout))


__all__ = ["LAYOUTS", "FRAMEWORKS", "Layout", "LayoutError", "layout_of", "to_framework",
           "from_framework"]
