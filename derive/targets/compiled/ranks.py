"""The number of axes of every array a function binds, found from the statements that make it:
what the compiled printer needs to write an elementwise statement as explicit loops (one index
per axis). A name whose rank cannot be told is left out; its statements stay array
expressions.
"""

from __future__ import annotations

from functools import singledispatch

import sympy

from derive.targets import ir


def infer_ranks(function: ir.Function) -> dict[int, dict[str, int]]:
    """For each elementwise statement of ``function`` (``Elementwise``, ``Activate``; keyed by
    ``id(node)``), {name: rank} of the arrays and scalars (rank 0) bound where it stands.
    Statements are visited in the order they run, so a name bound again later (with another
    rank) does not mislead an earlier statement."""
    known = {ref.name: rank for ref, rank in function.ranks if ref.key is None}
    entries = {(ref.name, ref.key): rank for ref, rank in function.ranks if ref.key is not None}
    ranks, at = _Ranks(known, entries), {}
    for node in ir.walk(function):
        if isinstance(node, (ir.Elementwise, ir.Activate)):
            at[id(node)] = dict(ranks.known)
        _bind(node, ranks)
    return at


def indexed_rank(base: int | None, index) -> int | None:
    """The rank of an array of rank ``base`` indexed by ``index`` (a number drops an axis, a
    new axis adds one, a span keeps one); None when unknown or over-indexed."""
    if base is None:
        return None
    dropped = sum(1 for i in index if not isinstance(i, (ir.Span, ir.NewAxis)))
    added = sum(1 for i in index if isinstance(i, ir.NewAxis))
    return base - dropped + added if dropped <= base else None


class _Ranks:
    def __init__(self, known: dict[str, int], entries: dict[tuple[str, str], int]):
        self.known, self.entries = known, entries

    def of_ref(self, ref: ir.Ref) -> int | None:
        base = (self.known.get(ref.name) if ref.key is None
                else self.entries.get((ref.name, ref.key)))
        return indexed_rank(base, ref.index)

    def of_expr(self, expr: sympy.Expr, places) -> int | None:
        placed = dict(places)
        found = [self.of_ref(placed[s.name]) if s.name in placed else self.known.get(s.name)
                 for s in expr.free_symbols]
        return None if None in found else max(found, default=0)

    def set(self, name: str, rank: int | None) -> None:
        if rank is None:
            self.known.pop(name, None)
        else:
            self.known[name] = rank


@singledispatch
def _bind(node, ranks: _Ranks) -> None:
    """Record the rank of what ``node`` binds (nothing for statements that bind nothing)."""


@_bind.register
def _(node: ir.Bind, ranks):
    ranks.set(node.name, ranks.of_ref(node.ref))


@_bind.register
def _(node: ir.Reshape, ranks):
    ranks.set(node.name, len(node.shape))


@_bind.register
def _(node: ir.Allocate, ranks):
    ranks.set(node.name, len(node.shape))


@_bind.register
def _(node: ir.ZerosLike, ranks):
    ranks.set(node.name, ranks.of_ref(node.like))


@_bind.register
def _(node: ir.Copy, ranks):
    ranks.set(node.name, ranks.of_ref(node.ref))


@_bind.register(ir.SizeOf)
@_bind.register(ir.Let)
def _(node, ranks):
    ranks.set(node.name, 0)


@_bind.register
def _(node: ir.Stack, ranks):
    ranks.set(node.name, 2)


@_bind.register
def _(node: ir.RowConstants, ranks):
    ranks.set(node.name, 2)


@_bind.register
def _(node: ir.StackAxis, ranks):
    parts = [ranks.of_ref(p) for p in node.parts]
    ranks.set(node.name, None if None in parts else parts[0] + 1)


@_bind.register
def _(node: ir.MatMul, ranks):
    if node.new:
        a, b = ranks.of_ref(node.a), ranks.of_ref(node.b)
        ranks.set(node.out.name, None if None in (a, b) else max(a, b))


@_bind.register
def _(node: ir.Elementwise, ranks):
    if node.new:
        ranks.set(node.out.name, ranks.of_expr(node.expr, node.places))


@_bind.register
def _(node: ir.Reduce, ranks):
    rank = ranks.of_expr(node.expr, node.places)
    ranks.set(node.name, None if rank is None else rank - len(node.axes))


@_bind.register
def _(node: ir.Arrive, ranks):
    ranks.set(node.name, ranks.of_ref(node.carried))


@_bind.register
def _(node: ir.Loop, ranks):
    ranks.set(node.var, 0)


@_bind.register
def _(node: ir.BlockLoop, ranks):
    for name in (node.size, node.start, node.stop):
        ranks.set(name, 0)
