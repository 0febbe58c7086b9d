"""The compiled module's path for large sizes: the NumPy module's functions, time loops and
matrix products as NumPy runs them, and inside each time loop every run of elementwise statements
(a step's gates and state update, a step's adjoints, a block's partial derivatives) one call of a
compiled kernel whose body is the compiled printer's loop nests.

At large sizes a step's products dominate; NumPy makes them on every BLAS thread, faster than the
single-threaded ``numpy.dot`` inside a compiled loop, while its elementwise statements cost one
pass over memory and one call each, which each kernel fuses into one pass over its run. Measured
with ``python -m verify bench`` (README, "Compiled column"): level with the NumPy module at the
two large sizes, where the compiled loops take up to 1.3 times as long.

A kernel's arguments are the names its statements read before binding them; its results the
names it binds that anything else in the function reads (the Python around it, or another
kernel, or itself at the next step). Both are read off the printed code, so they follow the
statements exactly.
"""

from __future__ import annotations

import ast
import textwrap
from dataclasses import dataclass

from derive.targets import ir
from derive.targets.bound import BUILTIN_NAMES, MODULE_NAMES
from derive.targets.compiled import loops
from derive.targets.compiled.printer import CompiledCodePrinter, Kernel
from derive.targets.compiled.ranks import infer_ranks
from derive.targets.layout import WIDTH
from derive.targets.numpy.printer import NumPyCodePrinter

_GLOBALS = MODULE_NAMES | BUILTIN_NAMES
"""Names a kernel's code reads from the module or the language, never arguments (a spec cannot
name a value so; it may name one after another built-in, ``pow``, which is then an argument)."""


@dataclass(frozen=True)
class _Run:
    """A run printed as kernel lines, waiting for its call line (at ``mark`` in the function)."""

    name: str
    mark: str
    body: tuple[str, ...]


class SteppedCodePrinter(CompiledCodePrinter):
    """Prints ``_stepped_<function>``: NumPy's Python, each run of elementwise statements in a
    time loop a call of a compiled kernel (collected in ``kernels``, without BLAS)."""

    def __init__(self):
        super().__init__()
        self.loop_depth = 0
        self.runs: list[_Run] = []
        self.function = ""

    def _print_Function(self, node: ir.Function) -> list[str]:
        self.ranks_at, self.runs = infer_ranks(node), []
        self.function = node.name.removeprefix("_stepped")
        lines = NumPyCodePrinter._print_Function(self, node)
        return self._calls(lines)

    def _print_CheckArgs(self, node: ir.CheckArgs) -> list[str]:
        return NumPyCodePrinter._print_CheckArgs(self, node)

    def _print_Loop(self, node: ir.Loop) -> list[str]:
        return self._inside(super()._print_Loop, node)

    def _print_BlockLoop(self, node: ir.BlockLoop) -> list[str]:
        return self._inside(super()._print_BlockLoop, node)

    def _inside(self, method, node) -> list[str]:
        self.loop_depth += 1
        try:
            return method(node)
        finally:
            self.loop_depth -= 1

    def block(self, body) -> list[str]:
        if self.loop_depth == 0:
            return super().block(body)
        lines = [line for item in ir.split_runs(body)
                 for line in (self._run(item) if isinstance(item, list) else self.lines(item))]
        return [self.indent + line if line else line for line in lines]

    def _run(self, run: list[ir.Node]) -> list[str]:
        """A run as a comment and a mark where its kernel's call goes, then the comments after
        its last statement (they are about what follows it); a run without work prints as
        NumPy's."""
        if not any(isinstance(node, (ir.Elementwise, ir.Activate)) for node in run):
            return [line for node in run for line in self.lines(node)]
        end = 1 + max(n for n, node in enumerate(run) if not isinstance(node, ir.Comment))
        body = self._kernel_lines(ir.ElementwiseBlock(tuple(run[:end])))
        name = f"{self.function}_run_{len(self.runs) + 1}"
        self.runs.append(_Run(name, f"__run_{len(self.runs)}__", tuple(body)))
        written = dict.fromkeys(node.out.name if isinstance(node, ir.Elementwise)
                                else node.view.name for node in run[:end]
                                if isinstance(node, (ir.Elementwise, ir.Activate)))
        return [f"# {name}, one compiled call (the equations are there): {', '.join(written)}",
                self.runs[-1].mark, *[line for node in run[end:] for line in self.lines(node)]]

    def _calls(self, lines: list[str]) -> list[str]:
        """``lines`` with each run's mark replaced by its kernel's call."""
        if not self.runs:
            return lines
        marks = {run.mark: run for run in self.runs}
        python = "\n".join(f"{line.split('__run_')[0]}pass" if line.strip() in marks else line
                           for line in lines)
        tree = ast.parse(python)
        read_by_python = {n.id for n in ast.walk(tree)
                          if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
        read_by_python |= {n.target.id for n in ast.walk(tree)  # x += ... reads x
                           if isinstance(n, ast.AugAssign) and isinstance(n.target, ast.Name)}
        reads = {run.mark: _reads_first(run.body) for run in self.runs}
        read = read_by_python.union(*map(set, reads.values()))
        calls = {}
        for run in self.runs:
            results = tuple(n for n in _bound(run.body) if n in read)
            kernel = Kernel(run.name, reads[run.mark], results, run.body, products=False)
            self.kernels.append(kernel)
            call = f"{run.name}({', '.join(kernel.args)})"
            calls[run.mark] = f"{', '.join(results)} = {call}" if results else call
        printed = []
        for line in lines:
            if line.strip() not in marks:
                printed.append(line)
                continue
            indent = line.split("__run_")[0]
            names, equals, call = calls[line.strip()].rpartition(" = ")
            head = f"{names}{equals}{call.split('(')[0]}("
            if len(indent + head) <= WIDTH - 10:  # the layout wraps the call's arguments
                printed.append(indent + names + equals + call)
                continue
            # many names: in parentheses over at least two lines (so the layout wraps the call's
            # arguments, not the names), the call after the last one
            width = min(WIDTH - len(indent + head) + len(names) - 2, len(names) + 1)
            wrapped = textwrap.wrap(f"({names})", width, subsequent_indent=" ",
                                    break_on_hyphens=False)
            wrapped[-1] += f" = {call}"
            printed += [indent + text for text in wrapped]
        return printed


def _statements(lines: tuple[str, ...]) -> list[ast.stmt]:
    return ast.parse("\n".join(line for line in lines if line.strip()) or "pass").body


def _reads_first(lines: tuple[str, ...]) -> tuple[str, ...]:
    """The names the code reads before it binds them, in order: a statement's reads come
    before its own bindings (``x = f(x)``, ``x += 1`` read the earlier ``x``)."""
    bound, first = set(loops.INDICES), []
    for statement in _statements(lines):
        names = [n for n in ast.walk(statement) if isinstance(n, ast.Name)]
        for n in sorted(names, key=lambda n: (n.lineno, n.col_offset)):
            loaded = isinstance(n.ctx, ast.Load) or isinstance(statement, ast.AugAssign)
            if loaded and n.id not in bound and n.id not in _GLOBALS and n.id not in first:
                first.append(n.id)
        bound |= {n.id for n in names if isinstance(n.ctx, ast.Store)}
    return tuple(first)


def _bound(lines: tuple[str, ...]) -> tuple[str, ...]:
    """The names the code binds, in order, loop indices excluded."""
    names = [n for statement in _statements(lines) for n in ast.walk(statement)
             if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)]
    return tuple(dict.fromkeys(n.id for n in names if n.id not in loops.INDICES))
