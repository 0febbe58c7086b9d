"""Flax linen's OptimizedLSTMCell as the gatecalc cell lstm.

Weights are the cell's params, flattened to "module/param" names: ``ii/kernel`` (M, H) … ``io``
without bias, ``hi/kernel`` (H, H) and ``hi/bias`` … ``ho``; the carry is (c, h), not (h, c).
"""

from __future__ import annotations

from .layout import Array, Block, Layout

FRAMEWORK = "flax"
INSTALL = "flax"


def _dense(name: str, param: str, columns: bool) -> Array:
    return Array(name, (Block(name.split("/")[0], (param,)),), columns=columns)


LAYOUTS = (
    Layout(FRAMEWORK, "flax.linen.OptimizedLSTMCell", "lstm", (),
           tuple(_dense(f"i{g}/kernel", f"W_{c}", True) for g, c in zip("ifgo", "ifco"))
           + tuple(a for g, c in zip("ifgo", "ifco")
                   for a in (_dense(f"h{g}/kernel", f"U_{c}", True),
                             _dense(f"h{g}/bias", f"b_{c}", False))),
           ("c", "h"),
           notes=("eight Dense layers: ii, if, ig, io on x (kernel (M, H), no bias), hi, hf, hg, "
                  "ho on h (kernel (H, H) and bias); the carry is (c, h), not (h, c)",
                  "八个 Dense 层：ii、if、ig、io 作用于 x（kernel (M, H)，无偏置），hi、hf、hg、ho "
                  "作用于 h（kernel (H, H) 与偏置）；carry 为 (c, h)，不是 (h, c)")),
)


def to_native(arrays: dict, layout: Layout) -> dict:
    """The cell's params as Flax nests them: ``{"params": {"hi": {"kernel": ...}, ...}}``."""
    nested: dict = {}
    for name, value in arrays.items():
        module, param = name.split("/")
        nested.setdefault(module, {})[param] = value
    return {"params": nested}


def from_native(weights, layout: Layout) -> dict:
    """``{"params": {...}}`` or the inner dict, as ``cell.init`` returns it."""
    inner = weights.get("params", weights)
    return {f"{module}/{param}": value for module, params in inner.items()
            for param, value in params.items()}
