"""The equation grammar: one line of a spec -> an ``Equation``, without evaluating anything.

Each line is parsed with ``ast.parse`` and walked once against a whitelist: names, numbers,
``+ - * / @``, ``**`` with a small integer exponent, unary minus, and calls to the functions in
``blocks.BLOCKS``. The walk returns, for every node, a ``Value``: its meaning (a SymPy object
built here; ``sympify``/``parse_expr`` are never used, they call ``eval``), the same expression
unevaluated in the order it was written (for printers), and its type (vector, number, matrix).
Names, sizes and constants are checked as the walk goes, and every error names the file, line
and column.
"""

from __future__ import annotations

import ast
import math
import re
import sys
import warnings
from dataclasses import dataclass

import sympy

from derive.ad.blocks import FUNCTIONS, to_builtin
from derive.ad.cell import Equation, LinearMap, prev_name
from derive.errors import Location, SpecError, SpecText
from derive.naming import check_name, linear_map_name, name_problem

MAX_EXPONENT = 8
MAX_LINE_LENGTH = 1000
MAX_DEPTH = 40  # nesting of an expression tree; SymPy and the printers recurse on it
# a number, after simplification, must be a normal float64: 2.2e-308 <= |v| <= 1.8e308, or 0
FLOAT64_RANGE = (sympy.Rational(sys.float_info.min), sympy.Rational(sys.float_info.max))


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


@dataclass(frozen=True)
class Value:
    """What the walk returns for a node: meaning, written-order form and type, together."""

    expr: sympy.Expr  # the meaning, as SymPy simplifies it
    shown: sympy.Expr  # the same, unevaluated: terms in the order written
    type: ValueType


class EquationBuilder:
    """Turns equation lines into ``Equation`` objects, checking names and sizes as it goes."""

    def __init__(self, source: SpecText, leaves: dict[str, ValueType], state: dict[str, str],
                 dimensions: frozenset[str] = frozenset()):
        self.source = source
        self.env: dict[str, ValueType] = dict(leaves)
        self.leaves = frozenset(leaves)
        self.state = state
        self.dimensions = dimensions
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
        items = []
        for k, raw_line in enumerate(text.split("\n")):
            code = raw_line.split("#", 1)[0].rstrip()
            if not code.strip():
                continue
            file_line = start + k + 1
            file_text = self.source.lines[file_line - 1] if file_line <= len(self.source.lines) else ""
            stripped = code.strip()
            _refuse_control_characters(stripped, self.source, file_line, file_text)
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
        assign = self._assignment(text)
        target = assign.targets[0].id
        check_name(target, "equation target", self._loc(assign.targets[0]))
        if target in self.dimensions:
            self.fail(f"'{target}' is a dimension; the generated code binds each dimension's size "
                      "to its name", assign.targets[0])
        if target in self.env:
            what = "a declared input or parameter" if target in self.leaves else "defined twice"
            self.fail(f"'{target}' is {what}; each name is defined once", assign.targets[0])
        try:
            value = self._convert(assign.value)
        except RecursionError:
            self.fail("expression is too deeply nested")
        kind = value.type
        if kind.kind != "vector":
            self.fail(f"an equation must define a vector, but the right-hand side is {kind.describe()}",
                      assign.value)
        if not value.expr.free_symbols:  # h_prev - h_prev: a number however it is written
            self.fail(f"the right-hand side simplifies to the number {value.expr}; an equation "
                      "must define a vector that depends on the input, a state or a parameter",
                      assign.value)
        if target in self.state and kind.dims[0] != self.state[target]:
            self.fail(f"state '{target}' is a {self.state[target]}-vector but the right-hand side "
                      f"is {kind.describe()}", assign.value)
        self.env[target] = kind
        written = f"{target} = {text.split('=', 1)[1].strip()}"  # alignment spaces dropped
        return Equation(target, value.expr, written, self.line, value.shown)

    def _assignment(self, text: str) -> ast.Assign:
        """The line as a checked ``name = expression`` syntax tree."""
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
        return assign

    # -- expressions: one walk, each node -> Value ---------------------------------------------
    def _convert(self, node: ast.AST) -> Value:
        if isinstance(node, ast.BinOp) and not isinstance(node.op, ast.MatMult):
            return self._convert_chain(node)
        method = getattr(self, f"_convert_{type(node).__name__}", None)
        if method is None:
            self.fail(f"{_FORBIDDEN.get(type(node).__name__, 'this construct')} is not allowed "
                      "in an equation", node)
        return self._checked(method(node), node)

    def _convert_chain(self, node: ast.BinOp) -> Value:
        """``a + b - c * d ...``: the left spine of binary operators is walked as a loop, so a
        long flat sum costs no recursion (nesting, not the number of terms, is limited)."""
        spine = []
        while isinstance(node, ast.BinOp) and not isinstance(node.op, ast.MatMult):
            spine.append(node)
            node = node.left
        value = self._convert(node)
        for binop in reversed(spine):
            value = self._checked(self._binop(binop, value), binop)
        return value

    def _checked(self, value: Value, node: ast.AST) -> Value:
        problem = _constant_problem(value.expr)
        if problem:
            self.fail(problem, node)
        return value

    def _convert_Constant(self, node: ast.Constant) -> Value:
        value = node.value
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            self.fail(f"{_FORBIDDEN['Str'] if isinstance(value, (str, bytes)) else 'this constant'}"
                      " is not allowed in an equation", node)
        if isinstance(value, float) and not math.isfinite(value):
            self.fail("numbers must be finite", node)
        number = _number(value)
        return Value(number, number, SCALAR)

    def _convert_Name(self, node: ast.Name) -> Value:
        name = node.id
        if name in FUNCTIONS:
            self.fail(f"function '{name}' must be called, e.g. {name}(a)", node)
        kind = self.env.get(name)
        if kind is None:
            problem = name_problem(name, "name")  # the one identifier check, at a use too
            if problem:
                self.fail(problem, node)
            if name in self.later_targets:
                hint = (f"; the previous step's value is '{prev_name(name)}'"
                        if name in self.state else "")
                self.fail(f"'{name}' is used before its definition{hint}", node)
            self.fail(f"undefined name '{name}'", node)
        if kind.kind == "matrix":
            self.fail(f"matrix '{name}' can only be applied with @, as in {name} @ v", node)
        symbol = sympy.Symbol(name)
        return Value(symbol, symbol, kind)

    def _convert_UnaryOp(self, node: ast.UnaryOp) -> Value:
        if not isinstance(node.op, (ast.USub, ast.UAdd)):
            self.fail(f"operator '{_OPERATORS.get(type(node.op).__name__, '?')}' is not allowed",
                      node)
        inner = self._convert(node.operand)
        if isinstance(node.op, ast.UAdd):
            return inner
        return Value(-inner.expr, sympy.Mul(-1, inner.shown, evaluate=False), inner.type)

    def _binop(self, node: ast.BinOp, left: Value) -> Value:
        op = type(node.op).__name__
        if op == "Pow":
            return self._power(node, left)
        if op not in ("Add", "Sub", "Mult", "Div"):
            self.fail(f"operator '{_OPERATORS.get(op, op)}' is not allowed", node)
        right = self._convert(node.right)
        kind = self._elementwise(left.type, right.type, _OPERATORS[op], node)
        a, b = left.expr, right.expr
        expr = {"Add": a + b, "Sub": a - b, "Mult": a * b}.get(op) if op != "Div" else a / b
        return Value(expr, _shown(op, left.shown, right.shown), kind)

    def _elementwise(self, a: ValueType, b: ValueType, op: str, node) -> ValueType:
        if a.kind == "scalar":
            return b
        if b.kind == "scalar" or a == b:
            return a
        self.fail(f"size mismatch: {a.describe()} {op} {b.describe()}", node)

    def _power(self, node: ast.BinOp, base: Value) -> Value:
        exponent = node.right
        negative = isinstance(exponent, ast.UnaryOp) and isinstance(exponent.op, ast.USub)
        inner = exponent.operand if negative else exponent
        if not (isinstance(inner, ast.Constant) and type(inner.value) is int
                and inner.value <= MAX_EXPONENT):
            self.fail(f"exponents must be integers from -{MAX_EXPONENT} to {MAX_EXPONENT}", exponent)
        n = -inner.value if negative else inner.value
        return Value(base.expr ** n, sympy.Pow(base.shown, n, evaluate=False), base.type)

    def _convert_BinOp(self, node: ast.BinOp) -> Value:  # only @: the rest is a chain
        if not isinstance(node.left, ast.Name) or self.env.get(node.left.id, SCALAR).kind != "matrix":
            self.fail("the left operand of @ must be a matrix parameter", node.left)
        matrix = node.left.id
        if not isinstance(node.right, ast.Name):
            self.fail("the right operand of @ must be a name; define the vector on its own line "
                      "first (m = ...; h = W @ m)", node.right)
        operand = self._convert(node.right).type
        rows, cols = self.env[matrix].dims
        if operand.kind != "vector" or operand.dims[0] != cols:
            self.fail(f"size mismatch: {matrix} is a {rows}x{cols} matrix applied to "
                      f"{operand.describe()}", node)
        key = (matrix, node.right.id)
        if key not in self.linear_maps:
            symbol_name = linear_map_name(matrix, node.right.id)
            if symbol_name in self.env or symbol_name in self.later_targets:
                self.fail(f"'{symbol_name}' names the product {matrix} @ {node.right.id}; "
                          "rename that variable", node)
            self.linear_maps[key] = LinearMap(sympy.Symbol(symbol_name), matrix, node.right.id)
        symbol = self.linear_maps[key].symbol
        return Value(symbol, symbol, vector(rows))

    def _convert_Call(self, node: ast.Call) -> Value:
        if not isinstance(node.func, ast.Name):
            self.fail("only calls of the allowed functions by name are allowed "
                      f"({', '.join(FUNCTIONS)})", node.func)
        name = node.func.id
        if name not in FUNCTIONS:
            self.fail(f"unknown function '{name}' (allowed: {', '.join(FUNCTIONS)})", node.func)
        if node.keywords or len(node.args) != 1 or isinstance(node.args[0], ast.Starred):
            self.fail(f"{name} takes exactly one argument", node)
        arg = self._convert(node.args[0])
        function = FUNCTIONS[name]
        return Value(function(arg.expr), function(arg.shown, evaluate=False), arg.type)


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


def _shown(op: str, left: sympy.Expr, right: sympy.Expr) -> sympy.Expr:
    """``left op right`` unevaluated, so printers keep the order it was written in (SymPy would
    sort ``W_i @ x + U_i @ h_prev + b_i`` alphabetically); a + b + c is one sum."""
    def flat(kind, a, b):
        return kind(*(a.args if isinstance(a, kind) else (a,)), b, evaluate=False)

    if op == "Add":
        return flat(sympy.Add, left, right)
    if op == "Sub":
        return flat(sympy.Add, left, sympy.Mul(-1, right, evaluate=False))
    if op == "Mult":
        return flat(sympy.Mul, left, right)
    return sympy.Mul(left, sympy.Pow(right, -1, evaluate=False), evaluate=False)  # Div


def _constant_problem(expr: sympy.Expr) -> str | None:
    """Why ``expr`` (a node's meaning, as SymPy simplified it) cannot become code, or None: a
    division by zero or a not-a-number, an exponent beyond the limit (``(c**8)**8`` is
    ``c**64``), a number too large or too small for float64, a function of a constant that is
    not a finite real (``log(0)``)."""
    if expr.has(sympy.zoo, sympy.nan, sympy.oo, -sympy.oo):
        return "this expression divides by zero or is not a number (SymPy simplifies it to " \
               f"{expr})" if len(str(expr)) < 80 else "this expression divides by zero"
    for node in sympy.preorder_traversal(expr):
        if isinstance(node, sympy.Pow) and node.exp.is_Number and abs(node.exp) > MAX_EXPONENT:
            return (f"after simplification the exponent is {node.exp}, outside "
                    f"-{MAX_EXPONENT} to {MAX_EXPONENT}")
        if isinstance(node, sympy.Number) and node != 0 and not (
                FLOAT64_RANGE[0] <= abs(node) <= FLOAT64_RANGE[1]):
            return "a number in this expression is out of float64's range (about 2e-308 to 2e308)"
        if isinstance(node, sympy.Function) and not node.free_symbols:
            value = to_builtin(node).evalf()
            if not (value.is_real and value.is_finite):
                return f"{node} is not a finite real number"
    return None


def _refuse_control_characters(line: str, source: SpecText, file_line: int, file_text: str):
    """A control character (written as an escape such as \\r or \\u0000 in the TOML string)
    has no place in an equation; the error points at its escape in the file when it can."""
    bad = next((ch for ch in line if ord(ch) < 32 and ch != "\t"), None)
    if bad is None:
        return
    escape = file_text.find("\\")
    column = escape + 1 if escape >= 0 else max(1, file_text.find(line[:1]) + 1)
    raise SpecError(f"control character U+{ord(bad):04X} in an equation", source.at(file_line, column))


def _deepest(tree: ast.AST) -> ast.AST | None:
    """The first node nested deeper than MAX_DEPTH, or None (iterative: no recursion limit).
    A chain ``a + b + c ...`` (the left operand of a binary operator) counts as one level."""
    stack = [(tree, 0)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            return node
        for child in ast.iter_child_nodes(node):
            same_level = isinstance(node, ast.BinOp) and child is node.left
            stack.append((child, depth if same_level else depth + 1))
    return None
