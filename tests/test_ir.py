"""The loop IR: lowering is pure and deterministic, every node prints, rewrites work alone, and
the target registry refuses a target whose extra is missing."""

import sympy

from derive.ad.blocks import BLOCKS
from derive.io import pipeline
from derive.targets import Target, TARGETS, ir, register
from derive.targets.lower import lower_backward, lower_forward, lower_recompute
from derive.targets.lower.rewrites import group_elementwise, names_read
from derive.targets.numpy.printer import NumPyCodePrinter
from derive.targets.plan import make_plan


def derivation(name="lstm"):
    return pipeline.derivation_of(pipeline.CELLS / f"{name}.toml")


def test_every_node_class_has_a_numpy_print_method():
    nodes = [c for c in vars(ir).values()
             if isinstance(c, type) and issubclass(c, ir.Node) and c is not ir.Node]
    missing = [c.__name__ for c in nodes if not hasattr(NumPyCodePrinter, f"_print_{c.__name__}")]
    assert not missing


def test_every_building_block_has_a_numpy_function():
    assert set(NumPyCodePrinter.functions) == set(BLOCKS)


def test_lowering_is_pure_and_deterministic():
    d = derivation("gru")
    plan = make_plan(d)
    before = (dict(plan.exprs), plan.steps)
    first, second = lower_backward(d, plan), lower_backward(d, make_plan(d))
    assert first == second  # frozen nodes compare by value
    assert (dict(plan.exprs), plan.steps) == before
    assert lower_forward(d, plan) == lower_forward(d, plan)
    assert lower_recompute(d, plan) == lower_recompute(d, make_plan(d))


def test_elementwise_statements_are_grouped_into_blocks():
    a, b = sympy.symbols("a b")
    nodes = [ir.Comment("c"), ir.Elementwise(ir.Ref("u"), a * b),
             ir.Bind("v", ir.Ref("w")), ir.MatMul(ir.Ref("p"), ir.Ref("u"), ir.Ref("W")),
             ir.Bind("q", ir.Ref("p"))]
    grouped = group_elementwise(nodes)
    assert isinstance(grouped[0], ir.ElementwiseBlock) and len(grouped[0].body) == 3
    assert isinstance(grouped[1], ir.MatMul)
    assert isinstance(grouped[2], ir.Bind)  # no elementwise work: left alone


def test_a_sequence_step_is_matrix_products_between_elementwise_blocks():
    loop = next(n for n in lower_forward(derivation(), make_plan(derivation())).body
                if isinstance(n, ir.Loop))
    kinds = {type(n) for n in loop.body}
    assert kinds <= {ir.ElementwiseBlock, ir.MatMul, ir.Comment, ir.Bind}
    assert ir.MatMul in kinds and ir.ElementwiseBlock in kinds


def test_names_read_sees_refs_sizes_and_symbols_but_not_placed_ones():
    D, t = sympy.symbols("D t")
    node = ir.Elementwise(ir.Ref("out")[t, ir.Span(0, D)], sympy.Symbol("p") * sympy.Symbol("V"),
                          (("p", ir.Ref("buffer")[t]),), new=False)
    assert names_read(node) == {"out", "t", "D", "V", "buffer"}


def test_printing_one_node_alone():
    printer = NumPyCodePrinter()
    t, D = sympy.symbols("t D")
    node = ir.Activate(ir.Ref("gates"), "tanh", 0.5, 0.5)
    assert printer.lines(node)[0] == "numpy.tanh(gates, out=gates)"
    node = ir.MatMul(ir.Ref("maps")[t], ir.Ref("h"), ir.Ref("stack_T"), new=False,
                     accumulate=True)
    assert printer.lines(node) == ["numpy.add(maps[t], numpy.dot(h, stack_T), out=maps[t])"]
    node = ir.Elementwise(ir.Ref("seq")[t, ir.ALL, ir.Span(D, 2 * D)], sympy.Symbol("v"), new=False)
    assert printer.lines(node) == ["seq[t, :, D:2*D] = v"]


def test_a_target_whose_extra_is_missing_is_refused_in_one_line(tmp_path, capsys, monkeypatch):
    from derive.__main__ import main
    monkeypatch.setitem(TARGETS, "fake", Target("fake", "nowhere:nothing", "fake", "fakeextra",
                                                ("gatecalc_no_such_module",)))
    monkeypatch.setattr("derive.__main__.TARGETS", TARGETS)
    assert main(["codegen", "lstm", "--target", "fake", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err == ("error: target 'fake' needs gatecalc_no_such_module: "
                   "pip install -e '.[fakeextra]'")
    assert not list(tmp_path.iterdir())
    assert register  # the one-line way to add a target


def test_written_order_puts_terms_as_the_spec_wrote_them():
    from derive.targets.lower.rewrites import written_order, written_positions
    d = derivation()
    a_i = next(s for s in d.forward if s.target == "a_i")
    display = next(eq.display for eq in d.cell.equations if eq.target == "i")
    printer = NumPyCodePrinter()
    assert printer.expr(a_i.expr) == "U_i_h_prev + W_i_x + b_i"  # SymPy's order
    assert printer.expr(written_order(a_i.expr, written_positions(display))) == \
        "W_i_x + U_i_h_prev + b_i"


def test_step_code_reads_in_written_order_and_computes_tanh_c_once():
    text = (pipeline.GENERATED / "lstm.py").read_text()
    step_forward = text[text.index("def step_forward("):text.index("def step_backward(")]
    step_backward = text[text.index("def step_backward("):text.index("def forward(")]
    assert "    a_i = W_i_x + U_i_h_prev + b_i\n" in step_forward
    assert "    c = f*c_prev + i*c_tilde\n" in step_forward
    assert step_backward.count("numpy.tanh(c)") == 1
    assert "grad through" not in text


def test_ranks_follow_the_statements_that_make_each_array():
    """The compiled printer's rank inference: from the function's given ranks, allocations,
    views (an index drops an axis, a new axis adds one), products and new elementwise values,
    as they stand at each statement (a name bound again later does not change an earlier one)."""
    from derive.targets.compiled.ranks import infer_ranks

    a, t = sympy.symbols("a t")
    first = ir.Elementwise(ir.Ref("u"), a * sympy.Symbol("row"), (("a", ir.Ref("v")[t, ir.ALL,
                                                                                    ir.NewAxis()]),))
    later = ir.Elementwise(ir.Ref("w"), sympy.Symbol("u") + 1)
    body = (ir.Allocate("v", (t, t, t)), ir.Bind("row", ir.Ref("params", key="b")), first,
            ir.Reshape("v", ir.Ref("v"), (t,)), later)
    function = ir.Function("f", (), "", body, ((ir.Ref("params", key="b"), 1),))
    at = infer_ranks(function)
    assert at[id(first)] == {"v": 3, "row": 1}
    assert at[id(later)] == {"v": 1, "row": 1, "u": 3}


def test_compiled_prints_elementwise_statements_as_loops_over_every_axis():
    """Known ranks: one loop per axis of the output, operands aligned to the last axes, a new
    axis skipping its index; unknown: one numba array expression."""
    from derive.targets.compiled.printer import CompiledCodePrinter

    d, k = sympy.symbols("d k")
    node = ir.Elementwise(ir.Ref("out")[k], sympy.Symbol("d") * sympy.Symbol("p"),
                          (("d", ir.Ref("d_c")[ir.ALL, ir.NewAxis()]), ("p", ir.Ref("part")[k])),
                          new=False)
    printer = CompiledCodePrinter()
    printer.in_kernel = True
    printer.ranks_at = {id(node): {"out": 4, "d_c": 2, "part": 4, "k": 0}}
    assert printer.lines(node) == [
        "for _i in range(out[k].shape[0]):",
        "    for _j in range(out[k].shape[1]):",
        "        for _k in range(out[k].shape[2]):",
        "            out[k, _i, _j, _k] = d_c[_i, _k]*part[k, _i, _j, _k]"]
    printer.ranks_at = {id(node): {"out": 4, "part": 4, "k": 0}}  # d_c's rank unknown
    assert printer.lines(node) == ["out[k] = d_c[:, None]*part[k]"]
    from derive.ad.blocks import FUNCTIONS
    new = ir.Elementwise(ir.Ref("s"), FUNCTIONS["tanh"](sympy.Symbol("c")))
    printer.ranks_at = {id(new): {"c": 1}}
    assert printer.lines(new) == ["s = numpy.empty_like(c)", "for _i in range(s.shape[0]):",
                                  "    s[_i] = tanh(c[_i])"]


def test_long_assignments_wrap_at_their_terms_or_factors():
    from derive.targets.layout import wrap_long_lines

    line = "        out[_i, _j] = " + "*".join(f"factor_{n}[_i, _j]" for n in range(6))
    wrapped = wrap_long_lines(line, width=60).split("\n")
    assert all(len(piece) <= 60 for piece in wrapped) and len(wrapped) > 1
    assert wrapped[0] == "        out[_i, _j] = (factor_0[_i, _j]*factor_1[_i, _j]"
    assert "".join(p.strip() for p in wrapped) == line.strip().replace("= ", "= (") + ")"
    assert wrap_long_lines("x = a**b", width=4) == "x = a**b"  # a power is not a product
