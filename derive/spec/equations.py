"""The equation grammar: one line of a spec -> an ``Equation``, without evaluating anything.

Each line is parsed with ``ast.parse`` and walked against a whitelist: names, numbers,
``+ - * / @``, ``**`` with a small integer exponent, unary minus, and calls to the functions in
``blocks.BLOCKS``. Every node maps to a SymPy object built here; ``sympify``/``parse_expr`` are
never used (they call ``eval``). Names and sizes are checked as the walk goes, and every error
names the file, line and column.
"""

from __future__ import annotations

import ast
import math
import re
import warnings
from dataclasses import dataclass

import sympy

from derive.ad.blocks import FUNCTIONS
from derive.ad.cell import Equation, LinearMap, prev_name
from derive.errors import Location, SpecError, SpecText
from derive.naming import check_name, linear_map_name

MAX_EXPONENT = 8
MAX_LINE_LENGTH = 1000
MAX_DEPTH = 40  # nesting of an expression tree; SymPy and the printers recurse on it


@dataclass(frozen=True)
class ValueType:
    kind: str  # "vector", "scalar" or "matrix"
    dims: tuple[str, ...] = ()

    def describe(self) -> str:
        if self.kind == "vector":
            return f"a {self.dims[0]}-vector"
        if self.kind == "matrix":
            return f"a {self.dims[0]}x{self.dims[1]} matrix"
        return "a number"


SCALAR = ValueType("scalar")


def vector(dim: str) -> ValueType:
    return ValueType("vector", (dim,))


class EquationBuilder:
    """Turns equation lines into ``Equation`` objects, checking names and sizes as it goes."""

    def __init__(self, source: SpecText, leaves: dict[str, ValueType], state: dict[str, str]):
        self.source = source
        self.env: dict[str, ValueType] = dict(leaves)
        self.leaves = frozenset(leaves)
        self.state = state
        self.linear_maps: dict[tuple[str, str], LinearMap] = {}
        self.later_targets: set[str] = set()
        self.line = 0
        self.line_text = ""
        self.column_shift = 0

    # -- locations ---------------------------------------------------------------------------
    def _loc(self, node: ast.AST | None = None) -> Location:
        column = 0
        if node is not None and hasattr(node, "col_offset"):
            # ast offsets count UTF-8 bytes; a column counts characters
            column = len(self.line_text.encode()[: node.col_offset].decode(errors="ignore"))
        return self.source.at(self.line, self.column_shift + column + 1)

    def fail(self, message: str, node: ast.AST | None = None):
        raise SpecError(message, self._loc(node))

    # -- lines -------------------------------------------------------------------------------
    def parse_all(self, text: str) -> list[Equation]:
        start = self.source.equation_start()
        lines = text.split("\n")
        items = []
        for k, raw_line in enumerate(lines):
            code = raw_line.split("#", 1)[0].rstrip()
            if not code.strip():
                continue
            file_line = start + k + 1
            file_text = self.source.lines[file_line - 1] if file_line <= len(self.source.lines) else ""
            stripped = code.strip()
            shift = file_text.find(stripped)
            if shift < 0:  # the TOML string was written with escapes; fall back to a search
                found = self.source.find(re.escape(stripped), start)
                file_line, shift = found.line, found.column - 1
            items.append((file_line, shift, stripped))
        self.later_targets = {self._target_name(s) for _, _, s in items} - {None}
        equations = []
        for file_line, shift, stripped in items:
            self.line, self.column_shift, self.line_text = file_line, shift, stripped
            equations.append(self._parse_line(stripped))
        if not equations:
            raise SpecError("no equations", self.source.field("equations"))
        return equations

    @staticmethod
    def _target_name(line: str) -> str | None:
        match = re.match(r"([A-Za-z_][A-Za-z0-9_]*)\s*=(?!=)", line)
        return match.group(1) if match else None

    def _parse_line(self, text: str) -> Equation:
        if len(text) > MAX_LINE_LENGTH:
            self.fail(f"equation longer than {MAX_LINE_LENGTH} characters")
        try:
            with warnings.catch_warnings():  # the error below is the message; no stray warnings
                warnings.simplefilter("ignore")
                module = ast.parse(text, mode="exec")
        except SyntaxError as exc:
            column = (exc.offset or 1) - 1
            message = exc.msg if exc.msg else "invalid syntax"
            raise SpecError(f"syntax error: {message}",
                            self.source.at(self.line, self.column_shift + column + 1)) from None
        except (RecursionError, MemoryError, ValueError):
            self.fail("expression is too deeply nested or too large")
        deepest = _deepest(module)
        if deepest is not None:
            self.fail(f"expression nested deeper than {MAX_DEPTH} levels", deepest)
        if len(module.body) != 1 or not isinstance(module.body[0], ast.Assign):
            self.fail("each line must be one equation: name = expression")
        assign = module.body[0]
        if len(assign.targets) != 1 or not isinstance(assign.targets[0], ast.Name):
            self.fail("the left-hand side must be a single name", assign.targets[0])
        target = assign.targets[0].id
        check_name(target, "equation target", self._loc(assign.targets[0]))
        if target in self.env:
            what = "a declared input or parameter" if target in self.leaves else "defined twice"
            self.fail(f"'{target}' is {what}; each name is defined once", assign.targets[0])
        try:
            expr, kind = self._convert(assign.value)
        except RecursionError:
            self.fail("expression is too deeply nested")
        if kind.kind != "vector":
            self.fail(f"an equation must define a vector, but the right-hand side is {kind.describe()}",
                      assign.value)
        if target in self.state and kind.dims[0] != self.state[target]:
            self.fail(f"state '{target}' is a {self.state[target]}-vector but the right-hand side "
                      f"is {kind.describe()}", assign.value)
        self.env[target] = kind
        written = f"{target} = {text.split('=', 1)[1].strip()}"  # alignment spaces dropped
        display = _display(assign.value, self.linear_maps)
        return Equation(target, expr, written, self.line, display)

    # -- expressions -------------------------------------------------------------------------
    def _convert(self, node: ast.AST) -> tuple[sympy.Expr, ValueType]:
        method = getattr(self, f"_convert_{type(node).__name__}", None)
        if method is None:
            self.fail(f"{_FORBIDDEN.get(type(node).__name__, 'this construct')} is not allowed "
                      "in an equation", node)
        return method(node)

    def _convert_Constant(self, node: ast.Constant):
        value = node.value
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            self.fail(f"{_FORBIDDEN['Str'] if isinstance(value, (str, bytes)) else 'this constant'}"
                      " is not allowed in an equation", node)
        if isinstance(value, float) and not math.isfinite(value):
            self.fail("numbers must be finite", node)
        return _number(value), SCALAR

    def _convert_Name(self, node: ast.Name):
        name = node.id
        if "__" in name:
            self.fail(f"name '{name}': names with '__' are not allowed", node)
        if name in FUNCTIONS:
            self.fail(f"function '{name}' must be called, e.g. {name}(a)", node)
        kind = self.env.get(name)
        if kind is None:
            if name in self.later_targets:
                hint = (f"; the previous step's value is '{prev_name(name)}'"
                        if name in self.state else "")
                self.fail(f"'{name}' is used before its definition{hint}", node)
            self.fail(f"undefined name '{name}'", node)
        if kind.kind == "matrix":
            self.fail(f"matrix '{name}' can only be applied with @, as in {name} @ v", node)
        return sympy.Symbol(name), kind

    def _convert_UnaryOp(self, node: ast.UnaryOp):
        if isinstance(node.op, (ast.USub, ast.UAdd)):
            expr, kind = self._convert(node.operand)
            return (-expr if isinstance(node.op, ast.USub) else expr), kind
        self.fail(f"operator '{_OPERATORS.get(type(node.op).__name__, '?')}' is not allowed", node)

    def _convert_BinOp(self, node: ast.BinOp):
        op = type(node.op).__name__
        if op == "MatMult":
            return self._convert_matmul(node)
        if op == "Pow":
            return self._convert_pow(node)
        if op not in ("Add", "Sub", "Mult", "Div"):
            self.fail(f"operator '{_OPERATORS.get(op, op)}' is not allowed", node)
        left, lkind = self._convert(node.left)
        right, rkind = self._convert(node.right)
        kind = self._elementwise(lkind, rkind, _OPERATORS[op], node)
        expr = {"Add": lambda: left + right, "Sub": lambda: left - right,
                "Mult": lambda: left * right, "Div": lambda: left / right}[op]()
        return expr, kind

    def _elementwise(self, a: ValueType, b: ValueType, op: str, node) -> ValueType:
        if a.kind == "scalar":
            return b
        if b.kind == "scalar" or a == b:
            return a
        self.fail(f"size mismatch: {a.describe()} {op} {b.describe()}", node)

    def _convert_pow(self, node: ast.BinOp):
        base, kind = self._convert(node.left)
        exponent = node.right
        negative = isinstance(exponent, ast.UnaryOp) and isinstance(exponent.op, ast.USub)
        inner = exponent.operand if negative else exponent
        if not (isinstance(inner, ast.Constant) and type(inner.value) is int
                and inner.value <= MAX_EXPONENT):
            self.fail(f"exponents must be integers from -{MAX_EXPONENT} to {MAX_EXPONENT}", exponent)
        return base ** (-inner.value if negative else inner.value), kind

    def _convert_matmul(self, node: ast.BinOp):
        if not isinstance(node.left, ast.Name) or self.env.get(node.left.id, SCALAR).kind != "matrix":
            self.fail("the left operand of @ must be a matrix parameter", node.left)
        matrix = node.left.id
        if not isinstance(node.right, ast.Name):
            self.fail("the right operand of @ must be a name; define the vector on its own line "
                      "first (m = ...; h = W @ m)", node.right)
        operand, okind = self._convert(node.right)
        rows, cols = self.env[matrix].dims
        if okind.kind != "vector" or okind.dims[0] != cols:
            self.fail(f"size mismatch: {matrix} is a {rows}x{cols} matrix applied to "
                      f"{okind.describe()}", node)
        key = (matrix, node.right.id)
        if key not in self.linear_maps:
            symbol_name = linear_map_name(matrix, node.right.id)
            if symbol_name in self.env or symbol_name in self.later_targets:
                self.fail(f"'{symbol_name}' names the product {matrix} @ {node.right.id}; "
                          "rename that variable", node)
            self.linear_maps[key] = LinearMap(sympy.Symbol(symbol_name), matrix, node.right.id)
        return self.linear_maps[key].symbol, vector(rows)

    def _convert_Call(self, node: ast.Call):
        if not isinstance(node.func, ast.Name):
            self.fail("only calls of the allowed functions by name are allowed "
                      f"({', '.join(FUNCTIONS)})", node.func)
        name = node.func.id
        if name not in FUNCTIONS:
            self.fail(f"unknown function '{name}' (allowed: {', '.join(FUNCTIONS)})", node.func)
        if node.keywords or len(node.args) != 1 or isinstance(node.args[0], ast.Starred):
            self.fail(f"{name} takes exactly one argument", node)
        arg, kind = self._convert(node.args[0])
        return FUNCTIONS[name](arg), kind


_OPERATORS = {"Add": "+", "Sub": "-", "Mult": "*", "Div": "/", "MatMult": "@", "Pow": "**",
              "Mod": "%", "FloorDiv": "//", "LShift": "<<", "RShift": ">>", "BitOr": "|",
              "BitXor": "^", "BitAnd": "&", "Not": "not", "Invert": "~"}
_FORBIDDEN = {
    "Attribute": "attribute access", "Subscript": "a subscript", "Lambda": "a lambda",
    "ListComp": "a comprehension", "SetComp": "a comprehension", "DictComp": "a comprehension",
    "GeneratorExp": "a comprehension", "Str": "a string", "JoinedStr": "a string",
    "FormattedValue": "a string", "Compare": "a comparison", "BoolOp": "a boolean operator",
    "IfExp": "a conditional expression", "Tuple": "a tuple", "List": "a list", "Dict": "a dict",
    "Set": "a set", "Starred": "unpacking", "NamedExpr": "an assignment expression",
    "Await": "await", "Yield": "yield", "YieldFrom": "yield", "Slice": "a slice",
}


def _number(value: int | float) -> sympy.Expr:
    """A literal as SymPy holds it exactly: 0.5 is 1/2, as written (its repr), not its binary."""
    return sympy.Integer(value) if isinstance(value, int) else sympy.Rational(repr(value))


def _display(node: ast.AST, maps: dict[tuple[str, str], LinearMap]) -> sympy.Expr:
    """The checked expression again, unevaluated, so printers keep the order it was written in
    (SymPy would sort ``W_i @ x + U_i @ h_prev + b_i`` alphabetically)."""
    if isinstance(node, ast.Constant):
        return _number(node.value)
    if isinstance(node, ast.Name):
        return sympy.Symbol(node.id)
    if isinstance(node, ast.UnaryOp):
        inner = _display(node.operand, maps)
        return sympy.Mul(-1, inner, evaluate=False) if isinstance(node.op, ast.USub) else inner
    if isinstance(node, ast.Call):
        return FUNCTIONS[node.func.id](_display(node.args[0], maps), evaluate=False)
    op = type(node.op).__name__
    if op == "MatMult":
        return maps[(node.left.id, node.right.id)].symbol
    left, right = _display(node.left, maps), _display(node.right, maps)

    def flat(kind, a, b):  # a + b + c as one sum, not (a + b) + c
        return kind(*(a.args if isinstance(a, kind) else (a,)), b, evaluate=False)

    if op == "Add":
        return flat(sympy.Add, left, right)
    if op == "Sub":
        return flat(sympy.Add, left, sympy.Mul(-1, right, evaluate=False))
    if op == "Mult":
        return flat(sympy.Mul, left, right)
    if op == "Div":
        return sympy.Mul(left, sympy.Pow(right, -1, evaluate=False), evaluate=False)
    return sympy.Pow(left, right, evaluate=False)  # Pow: the exponent was checked


def _deepest(tree: ast.AST) -> ast.AST | None:
    """The first node nested deeper than MAX_DEPTH, or None (iterative: no recursion limit)."""
    stack = [(tree, 0)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            return node
        stack.extend((child, depth + 1) for child in ast.iter_child_nodes(node))
    return None
