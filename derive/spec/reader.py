"""Spec parser: TOML text -> ``Cell``, without ever evaluating user text.

This module reads the fields (names, sizes, state, parameters, initial values) and checks them;
the equations go through ``equations.EquationBuilder``. Every error carries file, line and column.
"""

from __future__ import annotations

import hashlib
import keyword
import re
import tomllib
from pathlib import Path

from derive.ad.cell import Cell, Param, prev_name
from derive.spec.equations import EquationBuilder, ValueType, vector
from derive.errors import Location, SpecError, SpecText
from derive.naming import IDENTIFIER, check_name

KNOWN_FIELDS = ("name", "title", "source", "base", "sizes", "input", "state", "output", "params", "init",
                "equations")


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
    source = SpecText(path, text)
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


def _require(data: dict, key: str, kind: type, source: SpecText):
    if key not in data:
        raise SpecError(f"missing field '{key}'", source.at(1, 1))
    value = data[key]
    if not isinstance(value, kind) or isinstance(value, bool):
        raise SpecError(f"field '{key}' must be a {kind.__name__}", source.field(key))
    return value


def _text_field(data: dict, key: str, default: str, source: SpecText) -> str:
    """A one-line free text (title, source); it is printed into generated files, so it may not
    hold what would end a docstring or a comment there."""
    value = data.get(key, default)
    if not isinstance(value, str):
        raise SpecError(f"field '{key}' must be a string", source.field(key))
    if '"""' in value or "\\" in value or any(ord(ch) < 32 for ch in value):
        raise SpecError(f"field '{key}' must be one line without backslashes or '\"\"\"'",
                        source.field(key))
    return value


def _base_field(data: dict, name: str, source: SpecText) -> str:
    """The cell this one is a variant of ("" for none): the variants page compares with it."""
    base = data.get("base", "")
    if not isinstance(base, str) or (base and not IDENTIFIER.match(base)) or base == name:
        raise SpecError("field 'base' must name another cell, e.g. base = \"lstm\"",
                        source.field("base"))
    return base


def _build_cell(data: dict, source: SpecText, spec_hash: str) -> Cell:
    for key in data:
        if key not in KNOWN_FIELDS:
            raise SpecError(f"unknown field '{key}' (known: {', '.join(KNOWN_FIELDS)})",
                            source.field(key))
    name = _require(data, "name", str, source)
    if not IDENTIFIER.match(name):
        raise SpecError(f"cell name '{name}' must be a valid identifier", source.field("name"))
    title = _text_field(data, "title", name, source)
    cell_source = _text_field(data, "source", "", source)
    base = _base_field(data, name, source)

    sizes = _require(data, "sizes", dict, source)
    for dim, kw in sizes.items():
        check_name(dim, "dimension", source.field("sizes", dim))
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
    check_name(input_name, "input", source.field("input", input_name))
    input_dim = dim_checked(input_dim, "input", input_name)
    if sizes[input_dim] != "input_size":
        raise SpecError(f"the input's dimension {input_dim} must be the one sized by input_size",
                        source.field("input", input_name))

    state_table = _require(data, "state", dict, source)
    if not state_table:
        raise SpecError("a cell needs at least one state", source.field("state"))
    state = []
    for s, dim in state_table.items():
        check_name(s, "state", source.field("state", s))
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
        check_name(p, "parameter", loc)
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
    leaves.update({p.name: (ValueType("matrix", p.shape) if p.is_matrix else vector(p.shape[0]))
                   for p in params})
    if len(leaves) != 1 + len(state) + len(params):
        clash = sorted({input_name, *(prev_name(s) for s, _ in state)} & set(param_table))
        raise SpecError(f"parameter name '{clash[0]}' clashes with the input or a previous state",
                        source.field("params", clash[0]))

    builder = EquationBuilder(source, leaves, state_table)
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
        base=base,
    )


def unused_params(cell: Cell) -> tuple[str, ...]:
    """Parameters that no equation uses (a warning, not an error)."""
    used = {str(s) for eq in cell.equations for s in eq.expr.free_symbols}
    used |= {m.matrix for m in cell.linear_maps}
    return tuple(p.name for p in cell.params if p.name not in used)
