"""Rewrites of lowered IR, each usable and testable on its own."""

from __future__ import annotations

from dataclasses import fields, is_dataclass

import sympy

from derive.ad.cell import Cell
from derive.targets import ir
from derive.targets.lower.names import Names

# statements a compiled target may fuse into one loop over batch x units
ELEMENTWISE = (ir.Elementwise, ir.Bind, ir.Comment, ir.Activate)


def group_elementwise(nodes) -> list[ir.Node]:
    """Runs of consecutive elementwise statements (at least one ``Elementwise`` or ``Activate``)
    as one ``ElementwiseBlock`` each; other statements unchanged."""
    out: list[ir.Node] = []
    run: list[ir.Node] = []

    def flush():
        if any(isinstance(n, (ir.Elementwise, ir.Activate)) for n in run):
            # leading comments stay outside: they describe what follows
            out.append(ir.ElementwiseBlock(tuple(run)))
        else:
            out.extend(run)
        run.clear()

    for node in nodes:
        if isinstance(node, ELEMENTWISE):
            run.append(node)
        else:
            flush()
            out.append(node)
    flush()
    return out


def names_read(value) -> set[str]:
    """Every name a node (or a tuple of nodes) reads: refs, symbols of expressions and sizes."""
    found: set[str] = set()
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, ir.Ref):
            found.add(item.name)
            stack.extend(item.index)
        elif isinstance(item, sympy.Basic):
            found |= {s.name for s in item.free_symbols}
        elif isinstance(item, (tuple, list)):
            stack.extend(item)
        elif isinstance(item, ir.Span):
            stack.extend((item.start, item.stop))
        elif isinstance(item, ir.Return):
            found |= set(item.values)
        elif is_dataclass(item):
            if isinstance(item, ir.Elementwise) or isinstance(item, ir.Reduce):
                placed = {name for name, _ in item.places}
                found |= {s.name for s in item.expr.free_symbols} - placed
                stack.append(item.places)
                if isinstance(item, ir.Elementwise):
                    stack.append(item.out)
                continue
            stack.extend(getattr(item, f.name) for f in fields(item))
    return found


def params_and_sizes_read(cell: Cell, names: Names, body) -> list[ir.Node]:
    """Bindings of the parameters and sizes ``body`` reads, in the cell's order: nothing else."""
    read = names_read(body)
    nodes: list[ir.Node] = [ir.Bind(p.name, ir.Ref("params", key=p.name))
                            for p in cell.params if p.name in read]
    seen = set()
    for p in cell.params:
        for axis, dim in enumerate(p.shape):
            local = names.dims.get(dim, dim)
            if dim not in seen and local in read:
                nodes.append(ir.SizeOf(local, ir.Ref("params", key=p.name), axis))
            seen.add(dim)
    return nodes


def argument_ranks(cell: Cell, sequences=()) -> tuple[tuple[ir.Ref, int], ...]:
    """Ranks of the arrays a sequence function receives: the parameters' (their shapes), and
    ``sequences``, refs to (T, B, size) arrays (the input, ``dy``, the cache's entries)."""
    ranks = [(ir.Ref("params", key=p.name), len(p.shape)) for p in cell.params]
    return tuple(ranks + [(ref, 3) for ref in sequences])


def written_positions(display: sympy.Expr | None) -> dict[str, int]:
    """Each symbol's position of first appearance in an equation as written."""
    positions: dict[str, int] = {}
    if display is not None:
        for node in sympy.preorder_traversal(display):
            if isinstance(node, sympy.Symbol):
                positions.setdefault(node.name, len(positions))
    return positions


def written_order(expr: sympy.Expr, positions: dict[str, int]) -> sympy.Expr:
    """``expr`` with the terms of every sum and the factors of every product in the order their
    symbols were written (numbers first); printers keep that order (``order='none'``)."""
    if not positions or expr.is_Atom:
        return expr
    args = [written_order(a, positions) for a in expr.args]
    if isinstance(expr, (sympy.Add, sympy.Mul)):
        late = len(positions)

        def key(arg):
            return sorted(positions.get(s.name, late) for s in arg.free_symbols) or [-1]

        return expr.func(*sorted(args, key=key), evaluate=False)
    return expr.func(*args)
