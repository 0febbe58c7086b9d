"""The loop IR: what a generated function does, as frozen statements; printers turn it into text.

Lowering (``derive/targets/lower_*.py``) turns a derivation and its plan into ``Function`` nodes
and chooses every name; a target printer turns the nodes into source text. Nothing in the IR is
code of any language: values are ``Ref`` (an array, an entry of a dict argument, or a view of
either) and SymPy expressions whose symbols are bound to refs by ``Elementwise.places``.

How to add a target printer (one file, e.g. ``derive/targets/torch/printer.py``):

1. Subclass ``Printer`` (or ``derive.targets.numpy.printer.NumPyCodePrinter`` to reuse most of
   it) and write one ``_print_<Node>(self, node) -> list[str]`` per statement class below that
   the target prints differently; each returns the node's lines, unindented (``Loop`` and
   ``BlockLoop`` indent their bodies through ``self.block``). ``self.ref(ref)`` prints a ``Ref``
   and ``self.expr(expr, places)`` an elementwise SymPy expression.
2. Map every element function once: ``functions`` gives, per row of ``derive/ad/blocks.py``,
   a template with ``{a}`` (``{"tanh": "torch.tanh({a})", ...}``); a test checks it covers them.
3. ``ElementwiseBlock`` groups a step's consecutive elementwise statements: a compiled target can
   fuse them into one loop over batch x units; ``MatMul`` is always its own node.
4. Register the target in ``derive/targets/__init__.py`` (one line).

Node classes are stable: later changes only add nodes or optional fields.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Union

import sympy

# -- places ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Span:
    """``start:stop`` along one axis; ``None`` bounds mean the whole axis (``:``)."""

    start: sympy.Expr | None = None
    stop: sympy.Expr | None = None


ALL = Span()


@dataclass(frozen=True)
class NewAxis:
    """A new axis of length 1 (NumPy's ``None`` in an index), for broadcasting."""


Index = Union[sympy.Expr, Span, NewAxis]


@dataclass(frozen=True)
class Ref:
    """An array: a local ``name``, or ``name[key]`` when ``key`` is set (an entry of a dict
    argument such as ``params``), then indexed by ``index`` (integers, spans, new axes)."""

    name: str
    index: tuple[Index, ...] = ()
    key: str | None = None

    def __getitem__(self, index) -> "Ref":
        more = index if isinstance(index, tuple) else (index,)
        return Ref(self.name, self.index + tuple(_int(i) for i in more), self.key)


def _int(i):
    return sympy.Integer(i) if isinstance(i, int) else i


# -- statements ------------------------------------------------------------------------------------


class Node:
    """Base of every statement."""


@dataclass(frozen=True)
class Comment(Node):
    text: str


@dataclass(frozen=True)
class Bind(Node):
    """``name = ref``: a new name for an array or a view of one (nothing is copied)."""

    name: str
    ref: Ref


@dataclass(frozen=True)
class Reshape(Node):
    """``name = ref`` reshaped to ``shape`` (a view; sizes are SymPy expressions)."""

    name: str
    ref: Ref
    shape: tuple[sympy.Expr, ...]


@dataclass(frozen=True)
class SizeOf(Node):
    """``name = size of axis `axis` of ref``."""

    name: str
    ref: Ref
    axis: int


@dataclass(frozen=True)
class Let(Node):
    """``name = value``: an integer scalar (a loop offset, ``t - start``)."""

    name: str
    value: sympy.Expr


@dataclass(frozen=True)
class Allocate(Node):
    """``name``: a new array of ``shape`` in the function's dtype, zeros if ``zeros``."""

    name: str
    shape: tuple[sympy.Expr, ...]
    zeros: bool = False


@dataclass(frozen=True)
class ZerosLike(Node):
    """``name``: a new array of zeros shaped like ``like``, in the function's dtype (in
    ``like``'s when not ``in_dtype``)."""

    name: str
    like: Ref
    in_dtype: bool = True


@dataclass(frozen=True)
class Copy(Node):
    """``name``: a new array holding a copy of ``ref`` (so it owns its memory)."""

    name: str
    ref: Ref


@dataclass(frozen=True)
class LoadState(Node):
    """``out[...] = mapping[key]`` when the dict argument ``mapping`` has ``key``, else zeros."""

    out: Ref
    mapping: str
    key: str


@dataclass(frozen=True)
class Stack(Node):
    """``name``: matrices side by side, each times its scale (None: 1), transposed first when
    ``transpose`` (rows of the result = columns of the parts: ``[0.5*W_i.T, W_c.T]``, laid out
    row by row: a step's ``h_prev @ stack`` is then a product of two row-major operands)."""

    name: str
    parts: tuple[tuple[Ref, float | None], ...]
    transpose: bool = False


@dataclass(frozen=True)
class StackAxis(Node):
    """``name``: arrays of one shape stacked along a new axis ``axis``."""

    name: str
    parts: tuple[Ref, ...]
    axis: int


@dataclass(frozen=True)
class RowConstants(Node):
    """``name``: a (batch, sum(counts)) array, ``values[j]`` repeated over ``counts[j]`` columns."""

    name: str
    values: tuple[float, ...]
    counts: tuple[sympy.Expr, ...]
    batch: sympy.Expr


@dataclass(frozen=True)
class AddRows(Node):
    """``out += concatenated rows``: row block j is the sum of ``(vector, scale)`` pairs, or zeros
    of ``sizes[j]`` when it has none."""

    out: Ref
    rows: tuple[tuple[tuple[Ref, float | None], ...], ...]
    sizes: tuple[sympy.Expr, ...]


@dataclass(frozen=True)
class MatMul(Node):
    """``out = a @ b`` (``a.T``/``b.T`` when transposed). ``new``: ``out`` is a bare name bound to a
    new array (in the function's dtype when ``cast``); otherwise written into ``out``, added to it
    when ``accumulate``."""

    out: Ref
    a: Ref
    b: Ref
    transpose_a: bool = False
    transpose_b: bool = False
    new: bool = True
    accumulate: bool = False
    cast: bool = False


@dataclass(frozen=True)
class Elementwise(Node):
    """``out = expr`` elementwise; ``places`` binds symbols of ``expr`` to refs (other symbols are
    locals of that name). ``new``: bind ``out`` (a bare name) to a new array; otherwise write
    into ``out``, added to it when ``accumulate``."""

    out: Ref
    expr: sympy.Expr
    places: tuple[tuple[str, Ref], ...] = ()
    new: bool = True
    accumulate: bool = False


@dataclass(frozen=True)
class Activate(Node):
    """In place over ``view``: ``view = function(view)``; with ``scale``/``shift`` (a number, or
    a ``Ref`` to per-column constants), ``view = shift + scale * tanh(view)`` instead."""

    view: Ref
    function: str
    scale: float | Ref | None = None
    shift: float | Ref | None = None


@dataclass(frozen=True)
class Reduce(Node):
    """``name = expr`` summed over ``axes`` (a new array; added to ``name`` when
    ``accumulate``)."""

    name: str
    expr: sympy.Expr
    places: tuple[tuple[str, Ref], ...]
    axes: tuple[int, ...]
    accumulate: bool = False


@dataclass(frozen=True)
class Arrive(Node):
    """``name = carried``, plus ``given`` when the optional argument ``argument`` is not None
    (the output's adjoint: carried from the next step, plus that step's ``dy``)."""

    name: str
    carried: Ref
    argument: str
    given: Ref


@dataclass(frozen=True)
class ElementwiseBlock(Node):
    """Consecutive elementwise statements of one step (``Elementwise``, ``Bind``, ``Comment``):
    printed one by one by NumPy, fusable into one loop over batch x units by a compiled target."""

    body: tuple[Node, ...]


@dataclass(frozen=True)
class Loop(Node):
    """``for var in range(start, stop)`` (backwards when ``reverse``)."""

    var: str
    start: sympy.Expr
    stop: sympy.Expr
    body: tuple[Node, ...]
    reverse: bool = False


@dataclass(frozen=True)
class BlockLoop(Node):
    """Blocks of steps, last block first: ``size`` steps a block, ``BLOCK_VALUES // per_step``
    (at least 1, read from the module's constant at call time); each block is ``start:stop``."""

    size: str
    start: str
    stop: str
    steps: sympy.Expr
    per_step: sympy.Expr
    body: tuple[Node, ...]


@dataclass(frozen=True)
class Dict(Node):
    """``name = {key: value}``: a dict of arrays."""

    name: str
    items: tuple[tuple[str, Ref], ...]


@dataclass(frozen=True)
class Return(Node):
    values: tuple[str, ...]


@dataclass(frozen=True)
class CheckArgs(Node):
    """Refuse bad arguments before any work: one call of the module's argument checker.
    ``function`` names what is checked ("forward", "backward", ...); ``args`` the arguments."""

    function: str
    args: tuple[str, ...]
    results: tuple[str, ...] = ()  # names bound to what the checker returns (sizes, dtype)


@dataclass(frozen=True)
class Function(Node):
    """A function; ``ranks`` gives the number of axes of each array it receives, as its ``Ref``
    (an argument, ``Ref("x")``, or an entry of a dict, ``Ref("params", key="W_i")``), for a
    target that indexes single elements (the compiled one); other arrays' ranks follow from
    the statements that make them."""

    name: str
    args: tuple[str, ...]
    doc: str
    body: tuple[Node, ...]
    ranks: tuple[tuple[Ref, int], ...] = ()


# -- printing --------------------------------------------------------------------------------------


class Printer:
    """Base of target printers: ``doprint(node)`` dispatches to ``_print_<NodeClass>``."""

    indent = "    "

    def doprint(self, node: Node) -> str:
        return "\n".join(self.lines(node)) + "\n"

    def lines(self, node: Node) -> list[str]:
        method = getattr(self, f"_print_{type(node).__name__}", None)
        if method is None:
            raise NotImplementedError(f"{type(self).__name__} cannot print {type(node).__name__}")
        return method(node)

    def block(self, body) -> list[str]:
        """Statements, indented one level."""
        return [self.indent + line if line else line for node in body for line in self.lines(node)]


FUSABLE = (Comment, Bind, Elementwise, Activate)
"""Statements a compiled target may fuse into one kernel (the Binds are views, no work)."""


def split_runs(body) -> list:
    """A loop body's statements in order: each run of consecutive ``FUSABLE`` ones (an
    ``ElementwiseBlock``'s joined in) as a list, which may be empty, every other one alone."""
    items, run = [], []
    for node in body:
        if isinstance(node, ElementwiseBlock):
            run += node.body
        elif isinstance(node, FUSABLE):
            run.append(node)
        else:
            items += [run, node]
            run = []
    return items + [run]


def walk(node: Node):
    """Every node under ``node`` (itself first), depth first in order."""
    yield node
    for f in fields(node):
        value = getattr(node, f.name)
        if f.name == "body":
            for child in value:
                yield from walk(child)
