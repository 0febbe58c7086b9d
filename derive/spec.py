"""Spec parser: TOML text -> ``Cell``, without ever evaluating user text.

Each equation line is parsed with ``ast.parse`` and walked against a whitelist: names, numbers,
``+ - * / @``, ``**`` with a small integer exponent, unary minus, and calls to the functions in
``blocks.BLOCKS``. Every node maps to a SymPy object built here; ``sympify``/``parse_expr`` are
never used (they call ``eval``). Every error carries file, line and column.
"""

from __future__ import annotations

import ast
import hashlib
import keyword
import math
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

import sympy

from .blocks import FUNCTIONS
from .cell import Cell, Equation, LinearMap, Param, prev_name
from .errors import Location, SpecError
from .naming import linear_map_name

MAX_EXPONENT = 8
MAX_LINE_LENGTH = 1000
MAX_DEPTH = 40  # nesting of an expression tree; SymPy and the printers recurse on it
# Names the generated code uses for itself; a cell may not take them.
RESERVED = frozenset(
    {"numpy", "params", "state", "state_new", "cache", "grads", "d_state", "d_state_new",
     "x_t", "step_cache", "rng", "dtype", "T", "B", "t", "y", "range", "reversed", "dict",
     "tuple", "len", "zip", "sum", "float", "xs", "kept", "flat", "steps", "batch", "dx",
     "state0", "state_T", "d_state_T", "d_state0", "dy", "zero_state", "sizes", "scale",
     "value", "name", "shape", "dims"}
) | frozenset(FUNCTIONS)
KNOWN_FIELDS = ("name", "title", "source", "sizes", "input", "state", "output", "params", "init",
                "equations")
IDENTIFIER = re.compile(r"[A-Za-z][A-Za-z0-9_]*\Z")


@dataclass(frozen=True)
class _Type:
    kind: str  # "vector", "scalar" or "matrix"
    dims: tuple[str, ...] = ()

    def describe(self) -> str:
        if self.kind == "vector":
            return f"a {self.dims[0]}-vector"
        if self.kind == "matrix":
            return f"a {self.dims[0]}x{self.dims[1]} matrix"
        return "a number"


SCALAR = _Type("scalar")


def vector(dim: str) -> _Type:
    return _Type("vector", (dim,))


class _Source:
    """The spec's text, to turn a field or an equation into a file location."""

    def __init__(self, path: str, text: str):
        self.path = path
        self.lines = text.splitlines()

    def at(self, line: int, column: int) -> Location:
        source_line = self.lines[line - 1] if 0 < line <= len(self.lines) else ""
        return Location(self.path, line, column, source_line)

    def find(self, pattern: str, start: int = 0) -> Location:
        """Location of the first line (from line index ``start``) matching a regex."""
        rx = re.compile(pattern)
        for index in range(start, len(self.lines)):
            match = rx.search(self.lines[index])
            if match:
                return self.at(index + 1, match.start() + 1)
        return self.at(1, 1)

    def field(self, key: str, inner: str | None = None) -> Location:
        """Location of ``key = ...`` (or of ``inner`` inside that field's value)."""
        key_loc = self.find(rf"^\s*(\[\s*{re.escape(key)}\s*\]|{re.escape(key)}\s*=)")
        if inner is None:
            return key_loc
        return self.find(rf"(?<![A-Za-z0-9_]){re.escape(inner)}(?![A-Za-z0-9_])", key_loc.line - 1)

    def equation_start(self) -> int:
        """0-based index of the line holding the first character of the equations string."""
        for index, line in enumerate(self.lines):
            match = re.match(r'\s*equations\s*=\s*("""|\'\'\')(.*)$', line)
            if match:
                return index + (0 if match.group(2).strip() else 1)
        return 0


def parse_spec(path: str | Path) -> Cell:
    """Read and check a spec file. Raises SpecError with a location on any problem."""
    path = str(path)
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise SpecError(f"cannot read spec: {exc.strerror}", Location(path, 1, 1)) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SpecError(f"spec is not UTF-8 text ({exc.reason})", Location(path, 1, 1)) from None
    return parse_spec_text(text, path, hashlib.sha256(raw).hexdigest())


def parse_spec_text(text: str, path: str = "<spec>", spec_hash: str | None = None) -> Cell:
    source = _Source(path, text)
    if spec_hash is None:
        spec_hash = hashlib.sha256(text.encode("utf-8")).hexdigest()
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        match = re.search(r"\(at line (\d+), column (\d+)\)", str(exc))
        line, column = (int(match.group(1)), int(match.group(2))) if match else (1, 1)
        message = re.sub(r"\s*\(at line.*\)$", "", str(exc)) or "invalid TOML"
        raise SpecError(f"TOML error: {message}", source.at(line, column)) from None
    return _build_cell(data, source, spec_hash)


def _require(data: dict, key: str, kind: type, source: _Source):
    if key not in data:
        raise SpecError(f"missing field '{key}'", source.at(1, 1))
    value = data[key]
    if not isinstance(value, kind) or isinstance(value, bool):
        raise SpecError(f"field '{key}' must be a {kind.__name__}", source.field(key))
    return value


def _text_field(data: dict, key: str, default: str, source: _Source) -> str:
    """A one-line free text (title, source); it is printed into generated files, so it may not
    hold what would end a docstring or a comment there."""
    value = data.get(key, default)
    if not isinstance(value, str):
        raise SpecError(f"field '{key}' must be a string", source.field(key))
    if '"""' in value or "\\" in value or any(ord(ch) < 32 for ch in value):
        raise SpecError(f"field '{key}' must be one line without backslashes or '\"\"\"'",
                        source.field(key))
    return value


def _check_name(name: str, what: str, location: Location) -> None:
    if "__" in name:
        raise SpecError(f"{what} '{name}': names with '__' are not allowed", location)
    if not IDENTIFIER.match(name) or keyword.iskeyword(name):
        raise SpecError(f"{what} '{name}' is not a valid name (letters, digits, '_')", location)
    if name in RESERVED:
        raise SpecError(f"{what} '{name}' is reserved by the generated code", location)
    if name.startswith(("maps_", "stack_")):
        raise SpecError(f"{what} '{name}': names starting with 'maps_' or 'stack_' are reserved "
                        "by the generated code", location)
    if name.startswith("d_"):
        raise SpecError(f"{what} '{name}': names starting with 'd_' are reserved for adjoints",
                        location)


def _build_cell(data: dict, source: _Source, spec_hash: str) -> Cell:
    for key in data:
        if key not in KNOWN_FIELDS:
            raise SpecError(f"unknown field '{key}' (known: {', '.join(KNOWN_FIELDS)})",
                            source.field(key))
    name = _require(data, "name", str, source)
    if not IDENTIFIER.match(name):
        raise SpecError(f"cell name '{name}' must be a valid identifier", source.field("name"))
    title = _text_field(data, "title", name, source)
    cell_source = _text_field(data, "source", "", source)

    sizes = _require(data, "sizes", dict, source)
    for dim, kw in sizes.items():
        _check_name(dim, "dimension", source.field("sizes", dim))
        if (not isinstance(kw, str) or not IDENTIFIER.match(kw) or keyword.iskeyword(kw)
                or kw in ("rng", "dtype") or "__" in kw):
            raise SpecError(f"size '{dim}' must name an init_params keyword, e.g. \"hidden_size\"",
                            source.field("sizes", dim))
    keywords = list(sizes.values())
    for needed in ("input_size", "hidden_size"):
        if needed not in keywords:
            raise SpecError(f"sizes must map some dimension to \"{needed}\"", source.field("sizes"))
    if len(set(keywords)) != len(keywords):
        raise SpecError("two dimensions share one init_params keyword", source.field("sizes"))

    def dim_checked(dim, field, inner) -> str:
        if not isinstance(dim, str) or dim not in sizes:
            raise SpecError(f"unknown dimension {dim!r} (declared in sizes: {', '.join(sizes)})",
                            source.field(field, inner))
        return dim

    inputs = _require(data, "input", dict, source)
    if len(inputs) != 1:
        raise SpecError("a cell has exactly one input, e.g. input = { x = \"M\" }",
                        source.field("input"))
    ((input_name, input_dim),) = inputs.items()
    _check_name(input_name, "input", source.field("input", input_name))
    input_dim = dim_checked(input_dim, "input", input_name)
    if sizes[input_dim] != "input_size":
        raise SpecError(f"the input's dimension {input_dim} must be the one sized by input_size",
                        source.field("input", input_name))

    state_table = _require(data, "state", dict, source)
    if not state_table:
        raise SpecError("a cell needs at least one state", source.field("state"))
    state = []
    for s, dim in state_table.items():
        _check_name(s, "state", source.field("state", s))
        state.append((s, dim_checked(dim, "state", s)))

    output = _require(data, "output", str, source)
    if output not in state_table:
        raise SpecError(f"output '{output}' must be one of the states ({', '.join(state_table)})",
                        source.field("output"))

    param_table = _require(data, "params", dict, source)
    init = data.get("init", {})
    if not isinstance(init, dict):
        raise SpecError("field 'init' must be a table", source.field("init"))
    params = []
    for p, shape in param_table.items():
        loc = source.field("params", p)
        _check_name(p, "parameter", loc)
        if not isinstance(shape, list) or len(shape) not in (1, 2):
            raise SpecError(f"parameter '{p}' needs a shape of one or two dimensions, e.g. [\"D\"]",
                            loc)
        dims = tuple(dim_checked(d, "params", p) for d in shape)
        value = init.get(p)
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
            raise SpecError(f"initial value of '{p}' must be a number", source.field("init", p))
        params.append(Param(p, dims, None if value is None else float(value)))
    for p in init:
        if p not in param_table:
            raise SpecError(f"init names '{p}', which is not a parameter", source.field("init", p))

    equations_text = _require(data, "equations", str, source)
    leaves = {input_name: vector(input_dim)}
    leaves.update({prev_name(s): vector(dim) for s, dim in state})
    leaves.update({p.name: (_Type("matrix", p.shape) if p.is_matrix else vector(p.shape[0]))
                   for p in params})
    if len(leaves) != 1 + len(state) + len(params):
        clash = sorted({input_name, *(prev_name(s) for s, _ in state)} & set(param_table))
        raise SpecError(f"parameter name '{clash[0]}' clashes with the input or a previous state",
                        source.field("params", clash[0]))

    builder = _EquationBuilder(source, leaves, state_table)
    equations = builder.parse_all(equations_text)

    defined = {eq.target for eq in equations}
    for s, _ in state:
        if s not in defined:
            raise SpecError(f"state '{s}' is never updated: add an equation '{s} = ...'",
                            source.field("state", s))
    dims = dict((k, t.dims[0]) for k, t in builder.env.items() if t.kind == "vector")
    return Cell(
        name=name, title=str(title), source=str(cell_source), path=source.path,
        spec_hash=spec_hash, sizes=tuple(sizes.items()), input=(input_name, input_dim),
        state=tuple(state), output=output, params=tuple(params), equations=tuple(equations),
        linear_maps=tuple(builder.linear_maps.values()), dims=tuple(sorted(dims.items())),
    )


class _EquationBuilder:
    """Turns equation lines into ``Equation`` objects, checking names and sizes as it goes."""

    def __init__(self, source: _Source, leaves: dict[str, _Type], state: dict[str, str]):
        self.source = source
        self.env: dict[str, _Type] = dict(leaves)
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
        _check_name(target, "equation target", self._loc(assign.targets[0]))
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
        display = _display(assign.value, {k[0] + "@" + k[1]: m.symbol
                                           for k, m in self.linear_maps.items()})
        return Equation(target, expr, written, self.line, display)

    # -- expressions -------------------------------------------------------------------------
    def _convert(self, node: ast.AST) -> tuple[sympy.Expr, _Type]:
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
        if isinstance(value, int):
            return sympy.Integer(value), SCALAR
        return sympy.Rational(repr(value)), SCALAR

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

    def _elementwise(self, a: _Type, b: _Type, op: str, node) -> _Type:
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


def _display(node: ast.AST, maps: dict[str, sympy.Symbol]) -> sympy.Expr:
    """The checked expression again, unevaluated, so printers keep the order it was written in
    (SymPy would sort ``W_i @ x + U_i @ h_prev + b_i`` alphabetically)."""
    if isinstance(node, ast.Constant):
        value = node.value
        return sympy.Integer(value) if isinstance(value, int) else sympy.Rational(repr(value))
    if isinstance(node, ast.Name):
        return sympy.Symbol(node.id)
    if isinstance(node, ast.UnaryOp):
        inner = _display(node.operand, maps)
        return sympy.Mul(-1, inner, evaluate=False) if isinstance(node.op, ast.USub) else inner
    if isinstance(node, ast.Call):
        return FUNCTIONS[node.func.id](_display(node.args[0], maps), evaluate=False)
    op = type(node.op).__name__
    if op == "MatMult":
        return maps[f"{node.left.id}@{node.right.id}"]
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


def unused_params(cell: Cell) -> tuple[str, ...]:
    """Parameters that no equation uses (a warning, not an error)."""
    used = {str(s) for eq in cell.equations for s in eq.expr.free_symbols}
    used |= {m.matrix for m in cell.linear_maps}
    return tuple(p.name for p in cell.params if p.name not in used)
