"""Spec parser: TOML text -> ``Cell``, without ever evaluating user text.

This module reads the fields (names, sizes, state, parameters, initial values) and checks them;
the equations go through ``equations.EquationBuilder``. Every error carries file, line and column.
"""

from __future__ import annotations

import hashlib
import math
import re
import tomllib
from pathlib import Path

from derive.ad.cell import Cell, Param, prev_name
from derive.spec.equations import EquationBuilder, ValueType, vector
from derive.errors import Location, SpecError, SpecText
from derive.naming import IDENTIFIER, check_name, module_name_problem, name_problem

KNOWN_FIELDS = ("name", "title", "source", "base", "sizes", "input", "state", "output", "params",
                "init", "equations")


MAX_INIT = 1e38  # an initial value must fit float32 (init_params takes a dtype)
MAX_SPEC_BYTES = 1 << 20  # a spec is a few kilobytes; /dev/zero must not be read forever


def parse_spec(path: str | Path, display: str | None = None) -> Cell:
    """Read and check a spec file. Raises SpecError with a location on any problem. ``display``
    is how messages and generated headers name the file (default: ``path``); the file opened is
    always ``path``."""
    shown = str(path) if display is None else display
    try:
        with open(path, "rb") as stream:
            raw = stream.read(MAX_SPEC_BYTES + 1)
    except OSError as exc:
        raise SpecError(f"cannot read spec: {exc.strerror}", Location(shown, 1, 1)) from None
    if len(raw) > MAX_SPEC_BYTES:
        raise SpecError(f"spec is larger than {MAX_SPEC_BYTES // 1024} KiB", Location(shown, 1, 1))
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        column = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        raise SpecError(f"spec is not UTF-8 text ({exc.reason})",
                        Location(shown, line, column)) from None
    return parse_spec_text(text, shown, hashlib.sha256(raw).hexdigest())


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
    problem = module_name_problem(name)
    if problem:
        raise SpecError(problem, source.field("name"))
    title = _text_field(data, "title", name, source)
    cell_source = _text_field(data, "source", "", source)
    base = _base_field(data, name, source)
    sizes = _sizes(_require(data, "sizes", dict, source), source)
    fields = _Fields(sizes, source)
    input_name, input_dim = fields.input(_require(data, "input", dict, source))
    state = fields.state(_require(data, "state", dict, source))
    output = _require(data, "output", str, source)
    if output not in dict(state):
        raise SpecError(f"output '{output}' must be one of the states ({', '.join(dict(state))})",
                        source.field("output"))
    params = fields.params(_require(data, "params", dict, source), data.get("init", {}))

    leaves = {input_name: vector(input_dim)}
    leaves.update({prev_name(s): vector(dim) for s, dim in state})
    leaves.update({p.name: (ValueType("matrix", p.shape) if p.is_matrix else vector(p.shape[0]))
                   for p in params})
    if len(leaves) != 1 + len(state) + len(params):
        clash = sorted({input_name, *(prev_name(s) for s, _ in state)} & {p.name for p in params})
        raise SpecError(f"parameter name '{clash[0]}' clashes with the input or a previous state",
                        source.field("params", clash[0]))
    builder = EquationBuilder(source, leaves, dict(state), dimensions=frozenset(sizes))
    equations = builder.parse_all(_require(data, "equations", str, source))
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


def _sizes(sizes: dict, source: SpecText) -> dict[str, str]:
    """``{dimension: init_params keyword}``, each name checked."""
    for dim, kw in sizes.items():
        check_name(dim, "dimension", source.field("sizes", dim))
        if kw not in ("input_size", "hidden_size"):
            problem = name_problem(kw, "size keyword")
            if problem:
                raise SpecError(f"{problem} (each size names an init_params keyword, e.g. "
                                "\"proj_size\")", source.field("sizes", dim))
    keywords = list(sizes.values())
    for needed in ("input_size", "hidden_size"):
        if needed not in keywords:
            raise SpecError(f"sizes must map some dimension to \"{needed}\"", source.field("sizes"))
    if len(set(keywords)) != len(keywords):
        raise SpecError("two dimensions share one init_params keyword", source.field("sizes"))
    return sizes


class _Fields:
    """The declared names (input, states, parameters), checked against the dimensions."""

    def __init__(self, sizes: dict[str, str], source: SpecText):
        self.sizes = sizes
        self.source = source

    def name(self, name, what: str, field: str) -> str:
        location = self.source.field(field, name)
        check_name(name, what, location)
        if name in self.sizes:
            raise SpecError(f"{what} '{name}' has the name of a dimension; the generated code "
                            "binds each dimension's size to its name", location)
        return name

    def dim(self, dim, field: str, inner: str) -> str:
        if not isinstance(dim, str) or dim not in self.sizes:
            raise SpecError(f"unknown dimension {dim!r} (declared in sizes: "
                            f"{', '.join(self.sizes)})", self.source.field(field, inner))
        return dim

    def input(self, inputs: dict) -> tuple[str, str]:
        if len(inputs) != 1:
            raise SpecError("a cell has exactly one input, e.g. input = { x = \"M\" }",
                            self.source.field("input"))
        ((name, dim),) = inputs.items()
        self.name(name, "input", "input")
        dim = self.dim(dim, "input", name)
        if self.sizes[dim] != "input_size":
            raise SpecError(f"the input's dimension {dim} must be the one sized by input_size",
                            self.source.field("input", name))
        return name, dim

    def state(self, table: dict) -> list[tuple[str, str]]:
        if not table:
            raise SpecError("a cell needs at least one state", self.source.field("state"))
        return [(self.name(s, "state", "state"), self.dim(dim, "state", s))
                for s, dim in table.items()]

    def params(self, table: dict, init) -> list[Param]:
        if not isinstance(init, dict):
            raise SpecError("field 'init' must be a table", self.source.field("init"))
        params = []
        for p, shape in table.items():
            self.name(p, "parameter", "params")
            if not isinstance(shape, list) or len(shape) not in (1, 2):
                raise SpecError(f"parameter '{p}' needs a shape of one or two dimensions, "
                                "e.g. [\"D\"]", self.source.field("params", p))
            dims = tuple(self.dim(d, "params", p) for d in shape)
            value = init.get(p)
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))
                                      or abs(value) > MAX_INIT or not math.isfinite(value)):
                raise SpecError(f"initial value of '{p}' must be a finite number, at most "
                                f"{MAX_INIT:g} in size", self.source.field("init", p))
            params.append(Param(p, dims, None if value is None else float(value)))
        for p in init:
            if p not in table:
                raise SpecError(f"init names '{p}', which is not a parameter",
                                self.source.field("init", p))
        return params


def unused_params(cell: Cell) -> tuple[str, ...]:
    """Parameters that no equation uses (a warning, not an error)."""
    used = {str(s) for eq in cell.equations for s in eq.expr.free_symbols}
    used |= {m.matrix for m in cell.linear_maps}
    return tuple(p.name for p in cell.params if p.name not in used)
