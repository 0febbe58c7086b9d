"""Weight layouts of framework recurrent layers as frozen data, and the converters both ways.

A framework array (``weight_ih_l0``, Keras's ``kernel``, ONNX's ``W``) is a stack of gate blocks
in the framework's order. Each block holds the sum of some of the cell's parameters:

- one cell parameter in several blocks (PyTorch's ``bias_ih`` and ``bias_hh`` for the cell's one
  ``b_i``): to the framework, the first block gets the parameter and the others zeros; from it,
  the parameter is the sum of the blocks;
- several parameters in one block (Keras's one GRU bias for the Cho form's ``b_iz`` and
  ``b_hz``): to the framework, their sum; from it, the first parameter gets the block and the
  others zeros;
- no parameter (ONNX's forget rows under ``input_forget=1``, which the layer ignores): zeros to
  the framework, dropped from it.

So gatecalc → framework → gatecalc and framework → gatecalc → framework are bit-exact for every
layout in which each block holds one parameter and each parameter is in one block; where they are
not, the round trip is exact for the form this module writes (zeros in the second bias), and
otherwise gives the sum the layer computes. Only numpy is needed: framework tensors are turned
into arrays at the edge (``as_array``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy

from derive.errors import UsageError


class LayoutError(UsageError, ValueError):
    """Arrays that do not fit a layout: the message names the expected shapes and gate order."""


@dataclass(frozen=True)
class Block:
    gate: str                   # the framework's label of the block: "i", "f", "g", "o", ...
    params: tuple[str, ...]     # the cell parameters whose sum it holds; () = ignored by the layer


@dataclass(frozen=True)
class Array:
    name: str                   # the framework's name: "weight_ih_l0", "kernel", "W", "hi/kernel"
    blocks: tuple[Block, ...]   # in the framework's order
    columns: bool = False       # blocks side by side on the last axis, each transposed (Keras)
    groups: int = 1             # blocks split into this many rows of a leading axis (Keras bias)
    lead: int = 0               # leading axes of size 1 (ONNX's num_directions)


@dataclass(frozen=True)
class Layout:
    framework: str              # "torch", "keras", "onnx", "flax"
    layer: str                  # "torch.nn.LSTM"
    cell: str                   # the gatecalc cell it computes
    options: tuple[tuple[str, object], ...]  # the layer's arguments that make it that cell
    arrays: tuple[Array, ...]   # in the framework's order (Keras's get_weights order)
    state: tuple[str, ...]      # the cell's state names in the framework's order
    dims: dict = field(default_factory=dict, compare=False, hash=False)  # cell PARAMS: name -> dims
    notes: tuple[str, str] = ("", "")  # the traps, in English and Chinese
    dtype: str = "float64"      # the widest float type the layer computes in

    def shape_text(self, array: Array) -> str:
        """The array's shape in dimension names, e.g. (1, 4D, M)."""
        dims = _symbolic(self, array)
        return "(" + ", ".join(dims) + ("," if len(dims) == 1 else "") + ")"


def as_array(value) -> numpy.ndarray:
    """A framework tensor (torch, Keras variable, JAX, ONNX TensorProto) or array -> ndarray."""
    if type(value).__name__ == "TensorProto":
        from onnx import numpy_helper  # only reached with an ONNX object in hand
        return numpy_helper.to_array(value)
    if hasattr(value, "detach"):
        value = value.detach().cpu()
    if hasattr(value, "numpy") and not isinstance(value, numpy.ndarray):
        value = value.numpy()
    return numpy.asarray(value)


def _owners(layout: Layout) -> dict[str, tuple[str, int]]:
    """Each parameter's first block: (array name, block index)."""
    owners: dict[str, tuple[str, int]] = {}
    for array in layout.arrays:
        for k, block in enumerate(array.blocks):
            for p in block.params:
                owners.setdefault(p, (array.name, k))
    return owners


def _block_dims(layout: Layout, array: Array) -> tuple[str, ...]:
    for block in array.blocks:
        if block.params:
            return tuple(layout.dims[block.params[0]])
    raise AssertionError(f"{array.name}: a block with no parameter only")


def _symbolic(layout: Layout, array: Array) -> list[str]:
    dims = _block_dims(layout, array)
    per_group = len(array.blocks) // array.groups
    stacked = f"{per_group}{dims[0]}" if per_group > 1 else dims[0]
    if len(dims) == 1:
        shape = [stacked]
    else:
        shape = [dims[1], stacked] if array.columns else [stacked, dims[1]]
    if array.groups > 1:
        shape = [str(array.groups)] + shape
    return ["1"] * array.lead + shape


def to_framework(layout: Layout, params: dict) -> dict[str, numpy.ndarray]:
    """The cell's parameters -> {framework array name: ndarray}, in the layout's order."""
    missing = [p for p in layout.dims if p not in params]
    if missing:
        raise LayoutError(f"{layout.cell} parameters missing: {', '.join(missing)} "
                          f"(expected {', '.join(layout.dims)})")
    params = {k: as_array(v) for k, v in params.items()}
    owners = _owners(layout)
    out = {}
    for array in layout.arrays:
        like = params[next(b.params[0] for b in array.blocks if b.params)]
        blocks = []
        for k, block in enumerate(array.blocks):
            value = numpy.zeros_like(like)
            for p in block.params:
                if owners[p] == (array.name, k):
                    value = value + params[p]
            blocks.append(value.T if array.columns else value)
        out[array.name] = _stack(array, blocks)
    return out


def _stack(array: Array, blocks: list) -> numpy.ndarray:
    axis = -1 if array.columns or blocks[0].ndim == 1 else 0
    per_group = len(blocks) // array.groups
    rows = [numpy.concatenate(blocks[g * per_group:(g + 1) * per_group], axis=axis)
            for g in range(array.groups)]
    value = numpy.stack(rows) if array.groups > 1 else rows[0]
    return value.reshape((1,) * array.lead + value.shape)


def split(layout: Layout, arrays: dict) -> dict[str, list[numpy.ndarray]]:
    """{framework array name: its blocks as the cell's shapes}; checks names and shapes."""
    expected = [a.name for a in layout.arrays]
    if sorted(arrays) != sorted(expected):
        raise LayoutError(f"{layout.layer} ({layout.cell}): expected arrays "
                          f"{_expected_text(layout)}; got {', '.join(arrays) or 'none'}")
    sizes: dict[str, int] = {}
    out = {}
    for array in layout.arrays:
        value = as_array(arrays[array.name])
        _check_shape(layout, array, value.shape, sizes)
        value = value.reshape(value.shape[array.lead:])
        rows = list(value) if array.groups > 1 else [value]
        blocks = []
        for row in rows:
            axis = -1 if array.columns or row.ndim == 1 else 0
            for piece in numpy.split(row, len(array.blocks) // array.groups, axis=axis):
                blocks.append(piece.T if array.columns else piece)
        out[array.name] = blocks
    return out


def from_framework(layout: Layout, arrays: dict) -> dict[str, numpy.ndarray]:
    """{framework array name: tensor} -> the cell's parameters (in PARAMS order)."""
    blocks = split(layout, arrays)
    params: dict[str, numpy.ndarray] = {}
    for array in layout.arrays:
        for block, value in zip(array.blocks, blocks[array.name]):
            if not block.params:
                continue
            first = block.params[0]
            params[first] = value.copy() if first not in params else params[first] + value
            for other in block.params[1:]:
                params.setdefault(other, numpy.zeros_like(value))
    return {p: params[p] for p in layout.dims}


def grads_from_framework(layout: Layout, grads: dict) -> dict[str, numpy.ndarray]:
    """Gradients with respect to the framework's arrays -> gradients with respect to the cell's
    parameters, for weights written by ``to_framework``: each parameter lives in its first block."""
    blocks = split(layout, grads)
    owners = _owners(layout)
    return {p: blocks[owners[p][0]][owners[p][1]].copy() for p in layout.dims}


def source_of(layout: Layout) -> dict[str, str]:
    """Each parameter's first block, as text: "weight_ih_l0 rows 1 of 4 (f)"."""
    index = {a.name: a for a in layout.arrays}
    out = {}
    for p, (name, k) in _owners(layout).items():
        array = index[name]
        out[p] = f"{name} block {k + 1} of {len(array.blocks)} ({array.blocks[k].gate})"
    return out


def _check_shape(layout: Layout, array: Array, shape: tuple, sizes: dict) -> None:
    symbolic = _symbolic(layout, array)
    ok = len(shape) == len(symbolic)
    for text, n in zip(symbolic, shape) if ok else ():
        factor, dim = _factor(text)
        if dim is None:
            ok = ok and n == factor
        elif dim in sizes:
            ok = ok and n == factor * sizes[dim]
        elif n % factor == 0 and n > 0:
            sizes[dim] = n // factor
        else:
            ok = False
    if not ok:
        raise LayoutError(f"{layout.layer} ({layout.cell}): {array.name} has shape "
                          f"{tuple(shape)}; expected {layout.shape_text(array)} "
                          f"{_known(symbolic, sizes)}with blocks {_gates(array)}")


def _factor(text: str) -> tuple[int, str | None]:
    digits = text[:len(text) - len(text.lstrip("0123456789"))]
    dim = text[len(digits):] or None
    return (int(digits) if digits else 1), dim


def _known(symbolic: list[str], sizes: dict) -> str:
    values = []
    for text in symbolic:
        factor, dim = _factor(text)
        if dim is not None and dim not in sizes:
            return ""
        values.append(factor * sizes[dim] if dim is not None else factor)
    return f"= {tuple(values)} "


def _gates(array: Array) -> str:
    return ", ".join(b.gate for b in array.blocks)


def _expected_text(layout: Layout) -> str:
    return "; ".join(f"{a.name} {layout.shape_text(a)} [{_gates(a)}]" for a in layout.arrays)


def swapped(layout: Layout, arrays: dict, name: str, gate_a: str, gate_b: str) -> dict:
    """``arrays`` with two gate blocks of one array exchanged: a deliberately wrong layout."""
    array = next((a for a in layout.arrays if a.name == name), None)
    gates = [b.gate for b in array.blocks] if array else []
    if gate_a not in gates or gate_b not in gates:
        raise LayoutError(f"{layout.layer} ({layout.cell}): no blocks {gate_a!r} and {gate_b!r} "
                          f"in {name!r} (arrays: {_expected_text(layout)})")
    blocks = split(layout, arrays)[name]
    a, b = gates.index(gate_a), gates.index(gate_b)
    blocks[a], blocks[b] = blocks[b], blocks[a]
    out = dict(arrays)
    out[name] = _stack(array, [v.T if array.columns else v for v in blocks])
    return out
