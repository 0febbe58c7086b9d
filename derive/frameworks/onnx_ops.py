"""ONNX's LSTM and GRU operators as gatecalc cells.

Weights are initialisers ``{name: array}``: W [1, nH, M], R [1, nH, H], B [1, 2nH] = [Wb, Rb] and,
for the peephole cell, P [1, 3H]. LSTM rows are i, o, f, c; P's are i, o, f; GRU rows z, r, h.
"""

from __future__ import annotations

from .layout import Array, Block, Layout

FRAMEWORK = "onnx"
INSTALL = "onnx"


def _gates(labels: str, params) -> tuple[Block, ...]:
    return tuple(Block(g, (p,) if p else ()) for g, p in zip(labels.split(), params))


def _lstm(cell: str, forget: bool, peephole: bool, options, notes) -> Layout:
    f = ("W_f", "U_f", "b_f") if forget else ("", "", "")
    arrays = (
        Array("W", _gates("i o f c", ("W_i", "W_o", f[0], "W_c")), lead=1),
        Array("R", _gates("i o f c", ("U_i", "U_o", f[1], "U_c")), lead=1),
        Array("B", _gates("Wb_i Wb_o Wb_f Wb_c Rb_i Rb_o Rb_f Rb_c",
                          ("b_i", "b_o", f[2], "b_c") * 2), lead=1),
    )
    if peephole:
        arrays += (Array("P", _gates("i o f", ("V_i", "V_o", "V_f")), lead=1),)
    return Layout(FRAMEWORK, "onnx LSTM", cell, options, arrays, ("h", "c"), notes=notes,
                  dtype="float32")


_LSTM_NOTES = ("rows i, o, f, c; B = [Wb, Rb], both added: to ONNX the cell's bias goes to Wb and "
               "Rb is zero; float32 only in onnxruntime",
               "行顺序 i、o、f、c；B = [Wb, Rb] 两者相加：导出时单元的偏置写入 Wb，Rb 置零；"
               "onnxruntime 只支持 float32")
_GRU_ARRAYS = (
    Array("W", _gates("z r h", ("W_z", "W_r", "W_n")), lead=1),
    Array("R", _gates("z r h", ("U_z", "U_r", "U_n")), lead=1),
    Array("B", _gates("Wb_z Wb_r Wb_h Rb_z Rb_r Rb_h",
                      ("b_iz", "b_ir", "b_in", "b_hz", "b_hr", "b_hn")), lead=1),
)

LAYOUTS = (
    _lstm("lstm", True, False, (), _LSTM_NOTES),
    _lstm("peephole", True, True, (), (
        _LSTM_NOTES[0] + "; P rows i, o, f: i and f see c_prev, o sees the new c",
        _LSTM_NOTES[1] + "；P 的行顺序 i、o、f：i 与 f 看 c_prev，o 看新的 c")),
    _lstm("cifg", False, False, (("input_forget", 1),), (
        _LSTM_NOTES[0] + "; input_forget=1 gives $f_t = 1 - i_t$: the f rows are ignored "
                         "(written as "
        "zeros, dropped on import)",
        _LSTM_NOTES[1] + "；input_forget=1 令 $f_t = 1 - i_t$：f 的各行不被使用（导出写零，导入丢弃）")),
    # onnxruntime's CPU LSTM and GRU kernels take float32 only
    Layout(FRAMEWORK, "onnx GRU", "gru", (("linear_before_reset", 1),), _GRU_ARRAYS, ("h",),
           notes=("rows z, r, h; linear_before_reset=1 puts Rb_h inside "
                  "$r_t \\odot (U_n h_{t-1} + b_{hn})$ (PyTorch's form)",
                  "行顺序 z、r、h；linear_before_reset=1 把 Rb_h 放在 "
                  "$r_t \\odot (U_n h_{t-1} + b_{hn})$ 之内（PyTorch 的形式）"),
           dtype="float32"),
    Layout(FRAMEWORK, "onnx GRU", "gru_cho", (("linear_before_reset", 0),), _GRU_ARRAYS, ("h",),
           notes=("rows z, r, h; linear_before_reset=0 (the default) resets h_prev before R_h",
                  "行顺序 z、r、h；linear_before_reset=0（默认）在乘 R_h 之前先对 h_prev 重置"),
           dtype="float32"),
)


def to_native(arrays: dict, layout: Layout) -> dict:
    """Initialisers ``{name: array}`` (``onnx.numpy_helper.from_array(v, name)`` each)."""
    return dict(arrays)


def from_native(weights, layout: Layout) -> dict:
    """``{name: array}``, or TensorProtos (a graph's ``initializer`` list) named W, R, B, P."""
    if isinstance(weights, dict):
        return dict(weights)
    return {t.name: t for t in weights}
