"""Keras 3's recurrent layers (keras.layers.LSTM, keras.layers.GRU) as gatecalc cells.

Weights are the list of ``layer.get_weights()``: kernel (M, nU), recurrent_kernel (U, nU) and bias;
gates are columns, i, f, c, o for LSTM and z, r, h for GRU.
"""

from __future__ import annotations

from .layout import Array, Block, Layout, LayoutError

FRAMEWORK = "keras"
INSTALL = "keras"


def _gates(labels: str, params) -> tuple[Block, ...]:
    return tuple(Block(g, p if isinstance(p, tuple) else (p,))
                 for g, p in zip(labels.split(), params))


_GRU_KERNELS = (
    Array("kernel", _gates("z r h", ("W_z", "W_r", "W_n")), columns=True),
    Array("recurrent_kernel", _gates("z r h", ("U_z", "U_r", "U_n")), columns=True),
)

LAYOUTS = (
    Layout(FRAMEWORK, "keras.layers.LSTM", "lstm", (),
           (Array("kernel", _gates("i f c o", ("W_i", "W_f", "W_c", "W_o")), columns=True),
            Array("recurrent_kernel", _gates("i f c o", ("U_i", "U_f", "U_c", "U_o")),
                  columns=True),
            Array("bias", _gates("i f c o", ("b_i", "b_f", "b_c", "b_o")))), ("h", "c"),
           notes=("columns i, f, c, o, each block transposed; one bias; unit_forget_bias=True "
                  "only sets the forget slice to 1 at initialisation",
                  "列顺序 i、f、c、o，每块转置；只有一个偏置；unit_forget_bias=True "
                  "仅在初始化时把遗忘门偏置设为 1")),
    Layout(FRAMEWORK, "keras.layers.GRU", "gru", (("reset_after", True),),
           _GRU_KERNELS + (Array("bias", _gates("z r h z r h", (
               "b_iz", "b_ir", "b_in", "b_hz", "b_hr", "b_hn")), groups=2),), ("h",),
           notes=("columns z, r, h; bias (2, 3U): the input row, then the recurrent row, which "
                  "sits inside $r_t \\odot (U_n h_{t-1} + b_{hn})$ for h (PyTorch's form)",
                  "列顺序 z、r、h；偏置 (2, 3U)：第一行为输入偏置，第二行为循环偏置，"
                  "h 的循环偏置位于 $r_t \\odot (U_n h_{t-1} + b_{hn})$ 之内（与 PyTorch 相同）")),
    Layout(FRAMEWORK, "keras.layers.GRU", "gru_cho", (("reset_after", False),),
           _GRU_KERNELS + (Array("bias", _gates("z r h", (
               ("b_iz", "b_hz"), ("b_ir", "b_hr"), ("b_in", "b_hn")))),), ("h",),
           notes=("columns z, r, h; one bias (3U): to Keras the cell's two biases are summed, "
                  "from Keras the bias goes to b_i* and b_h* is zero; r multiplies h_prev before "
                  "the recurrent kernel. float32 only: this form runs Keras's own cell, whose "
                  "ops.matmul gives float32 for float64 operands on every backend but TensorFlow "
                  "(Keras 3's type promotion, as JAX's default)",
                  "列顺序 z、r、h；一个偏置 (3U)：导出时单元的两个偏置相加，导入时偏置写入 b_i*，"
                  "b_h* 置零；r 在乘循环权重之前作用于 h_prev。只能用 float32：这一形式走 Keras "
                  "自己的单元，其 ops.matmul 在 TensorFlow 以外的后端把 float64 的乘积降为 float32"
                  "（Keras 3 的类型提升规则，与 JAX 默认一致）"), dtype="float32"),
)


def to_native(arrays: dict, layout: Layout) -> list:
    """The list ``layer.set_weights`` takes, in the layer's order."""
    return [arrays[a.name] for a in layout.arrays]


def from_native(weights, layout: Layout) -> dict:
    """The list of ``layer.get_weights()``, or the layer itself."""
    if hasattr(weights, "get_weights"):
        weights = weights.get_weights()
    if isinstance(weights, dict):
        return dict(weights)
    weights = list(weights)
    names = [a.name for a in layout.arrays]
    if len(weights) != len(names):
        expected = ", ".join(f"{a.name} {layout.shape_text(a)}" for a in layout.arrays)
        raise LayoutError(f"{layout.layer} ({layout.cell}): expected {len(names)} weights "
                          f"[{expected}]; got {len(weights)}")
    return dict(zip(names, weights))
