"""One identifier check for every name in a spec, against every name a generated module binds.

The reserved set is not trusted as a hand list: every generated module (for every target, in
any subfolder of derive/generated/) is parsed, and each name it binds or reads that is not made
from its cell's own names must be in ``naming.RESERVED``."""

import ast
from pathlib import Path

import pytest

from conftest import ROOT

from derive.errors import SpecError
from derive.io import pipeline
from derive.naming import (GENERATED_LOCALS, IDENTIFIER, IMPORTED_MODULES, RESERVED, RESERVED_PREFIXES,
                           name_problem)
from derive.spec.reader import parse_spec, parse_spec_text

GENERATED = ROOT / "derive" / "generated"


def generated_modules() -> list[Path]:
    return sorted(p for p in GENERATED.rglob("*.py") if p.name != "__init__.py")


def bound_and_read(tree: ast.AST) -> tuple[set[str], set[str]]:
    """Names bound and read where a cell's names live: module level and the public functions.
    The bodies of private helpers (``_check_array``) and of classes (the torch ``Cell``) are
    their own scopes that no cell name reaches, so only their own names count."""
    bound, read = set(), set()
    pending = [tree]
    while pending:
        for node in ast.iter_child_nodes(pending.pop()):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                bound.add(node.name)
                if node.name.startswith("_") or isinstance(node, ast.ClassDef):
                    continue
            elif isinstance(node, ast.Name):
                (read if isinstance(node.ctx, ast.Load) else bound).add(node.id)
            elif isinstance(node, ast.arg):
                bound.add(node.arg)
            elif isinstance(node, ast.alias):
                bound.add((node.asname or node.name).split(".")[0])
            elif isinstance(node, (ast.Global, ast.Nonlocal)):
                bound.update(node.names)
            pending.append(node)
    return bound, read


def cell_names(cell) -> set[str]:
    names = {cell.input[0], *(n for n, _ in cell.dims), *(p.name for p in cell.params),
             *(eq.target for eq in cell.equations), *(str(m.symbol) for m in cell.linear_maps)}
    names |= {dim for dim, _ in cell.sizes} | {kw for _, kw in cell.sizes}
    return names


def made_from_the_cell(name: str, own: set[str]) -> bool:
    """A cell's name, a fresh variant of one (``k_``), a pre-activation (``a_i``), or a name
    under a reserved prefix (adjoints, stacked maps, sequences)."""
    base = name.rstrip("_") or name
    return (base in own or base in GENERATED_LOCALS or name.startswith(RESERVED_PREFIXES)
            or (name.startswith("a_") and name[2:].rstrip("_") in own)
            or (name.startswith("tanh_") and name[5:].rstrip("_") in own))


def test_the_generated_modules_are_all_found():
    assert {p.stem for p in generated_modules()} >= {p.stem for p in pipeline.builtin_spec_paths()}


@pytest.mark.parametrize("module", generated_modules(), ids=lambda p: str(p.relative_to(GENERATED)))
def test_every_name_a_generated_module_binds_or_reads_is_reserved(module):
    cell = parse_spec(pipeline.CELLS / f"{module.stem}.toml")
    bound, read = bound_and_read(ast.parse(module.read_text()))
    own = cell_names(cell)
    # a name a spec cannot spell (IDENTIFIER: a letter first, so not '_x') cannot collide
    unreserved = {n for n in bound if not made_from_the_cell(n, own) and IDENTIFIER.match(n)}
    unreserved -= RESERVED
    assert not unreserved, f"{module.name} binds names a cell could take: {sorted(unreserved)}"
    free = read - bound  # built-ins and imported modules
    assert not free - RESERVED, f"{module.name} reads unreserved names: {sorted(free - RESERVED)}"


def test_the_check_refuses_every_reserved_name_and_prefix():
    for name in sorted(RESERVED):
        assert name_problem(name, "state"), name
    for prefix in RESERVED_PREFIXES:
        assert name_problem(f"{prefix}v", "state"), prefix
    assert name_problem("v", "state") is None and name_problem("k", "state") is None


TEMPLATE = '''name = "{cell}"
sizes = {{ M = "input_size", D = "hidden_size", P = "{keyword}" }}
input = {{ x = "M" }}
state = {{ {state} = "D" }}
output = "{state}"
equations = """
{target} = sigmoid(W @ x + U @ {state}_prev + {bias})
{state} = {target} * {state}_prev
"""

[params]
W = ["D", "M"]
U = ["D", "D"]
{bias} = ["D"]
'''
NAMES = dict(cell="mycell", keyword="proj_size", state="h", target="f", bias="b")


def spec(**names) -> str:
    return TEMPLATE.format(**{**NAMES, **names})


def test_the_template_itself_is_accepted():
    assert parse_spec_text(spec()).name == "mycell"


@pytest.mark.parametrize("field, name, line, message", [
    ("target", "D", 7, "'D' is a dimension"),
    ("target", "M", 7, "'M' is a dimension"),
    ("target", "steps", 7, "reserved by the generated code"),
    ("target", "numpy", 7, "reserved by the generated code"),
    ("target", "math", 7, "reserved by the generated code"),
    ("target", "init_params", 7, "reserved by the generated code"),
    ("target", "len", 7, "reserved by the generated code"),
    ("target", "class", 7, "syntax error"),  # the equation line is Python syntax first
    ("target", "flat_x", 7, "reserved by the generated code"),
    ("keyword", "numpy", 2, "size keyword 'numpy' is reserved"),
    ("keyword", "PARAMS", 2, "size keyword 'PARAMS' is reserved"),
    ("keyword", "INIT", 2, "size keyword 'INIT' is reserved"),
    ("keyword", "rng", 2, "size keyword 'rng' is reserved"),
    ("keyword", "lambda", 2, "size keyword 'lambda' is a Python keyword"),
    ("state", "zero_state", 4, "state 'zero_state' is reserved"),
    ("state", "D", 4, "state 'D' has the name of a dimension"),
    ("bias", "forward", 14, "parameter 'forward' is reserved"),
    ("bias", "torch", 14, "parameter 'torch' is reserved"),
    ("bias", "P", 14, "parameter 'P' has the name of a dimension"),
    ("cell", "numpy", 1, "cell name 'numpy' is the name of a Python module"),
    ("cell", "scipy", 1, "cell name 'scipy' is the name of a Python module"),
    ("cell", "math", 1, "cell name 'math' is the name of a Python module"),
    ("cell", "class", 1, "cell name 'class' is a Python keyword"),
    ("cell", "my-cell", 1, "is not a valid name"),
])
def test_a_name_the_generated_code_needs_is_refused_where_it_is_written(field, name, line, message):
    with pytest.raises(SpecError) as caught:
        parse_spec_text(spec(**{field: name}), "cell.toml")
    assert message in caught.value.message
    assert caught.value.location.line == line


def test_names_the_generated_code_renames_around_are_accepted():
    """The sequence code names its own locals fresh (``k_``): a cell may take those names."""
    for name in sorted(GENERATED_LOCALS):
        assert parse_spec_text(spec(target=name)).equations[0].target == name
    assert parse_spec_text(spec(cell="t")).name == "t"  # a name, not a module anyone imports


def test_every_module_the_generated_code_imports_is_reserved():
    imported = set()
    for module in generated_modules():
        imported |= {alias.name.split(".")[0] for node in ast.walk(ast.parse(module.read_text()))
                     if isinstance(node, (ast.Import, ast.ImportFrom))
                     for alias in (node.names if isinstance(node, ast.Import)
                                   else [ast.alias(node.module or "")])}
    assert imported <= IMPORTED_MODULES <= RESERVED
