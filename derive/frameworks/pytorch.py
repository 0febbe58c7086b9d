"""PyTorch's recurrent layers (torch.nn.LSTM, torch.nn.GRU) as gatecalc cells.

Weights are a state dict, ``{name: tensor}``. Rows of ``weight_ih_l0`` (4H, M) are i, f, g, o for
LSTM and r, z, n for GRU; ``bias_ih_l0`` and ``bias_hh_l0`` are both added (cuDNN's format).
"""

from __future__ import annotations

from .layout import Array, Block, Layout

FRAMEWORK = "torch"
INSTALL = "torch"


def _gates(labels: str, params: tuple[str, ...]) -> tuple[Block, ...]:
    return tuple(Block(g, (p,)) for g, p in zip(labels.split(), params))


_LSTM_ARRAYS = (
    Array("weight_ih_l0", _gates("i f g o", ("W_i", "W_f", "W_c", "W_o"))),
    Array("weight_hh_l0", _gates("i f g o", ("U_i", "U_f", "U_c", "U_o"))),
    Array("bias_ih_l0", _gates("i f g o", ("b_i", "b_f", "b_c", "b_o"))),
    Array("bias_hh_l0", _gates("i f g o", ("b_i", "b_f", "b_c", "b_o"))),
)
_LSTM_NOTES = ("rows i, f, g, o; bias_ih and bias_hh are both added: to PyTorch the cell's bias "
               "goes to bias_ih and bias_hh is zero, from PyTorch the two are summed; state (h, c)",
               "行顺序 i、f、g、o；bias_ih 与 bias_hh 两个偏置相加：导出时单元的偏置写入 bias_ih，"
               "bias_hh 置零，导入时两者相加；状态为 (h, c)")

LAYOUTS = (
    Layout(FRAMEWORK, "torch.nn.LSTM", "lstm", (), _LSTM_ARRAYS, ("h", "c"), notes=_LSTM_NOTES),
    Layout(FRAMEWORK, "torch.nn.LSTM", "lstmp", (("proj_size", "P"),),
           _LSTM_ARRAYS + (Array("weight_hr_l0", (Block("p", ("W_p",)),)),), ("h", "c"),
           notes=(_LSTM_NOTES[0] + "; weight_hr_l0 (P, H) projects h, and weight_hh_l0 is (4H, P)",
                  _LSTM_NOTES[1] + "；weight_hr_l0 (P, H) 投影 h，weight_hh_l0 为 (4H, P)")),
    Layout(FRAMEWORK, "torch.nn.GRU", "gru", (),
           (Array("weight_ih_l0", _gates("r z n", ("W_r", "W_z", "W_n"))),
            Array("weight_hh_l0", _gates("r z n", ("U_r", "U_z", "U_n"))),
            Array("bias_ih_l0", _gates("r z n", ("b_ir", "b_iz", "b_in"))),
            Array("bias_hh_l0", _gates("r z n", ("b_hr", "b_hz", "b_hn")))), ("h",),
           notes=("rows r, z, n; $b_{hn}$ sits inside $r_t \\odot (U_n h_{t-1} + b_{hn})$; "
                  "$h_t = (1 - z_t) \\odot n_t + z_t \\odot h_{t-1}$",
                  "行顺序 r、z、n；$b_{hn}$ 位于 $r_t \\odot (U_n h_{t-1} + b_{hn})$ 之内；"
                  "$h_t = (1 - z_t) \\odot n_t + z_t \\odot h_{t-1}$")),
)


def to_native(arrays: dict, layout: Layout) -> dict:
    """A state dict of numpy arrays (``layer.load_state_dict({k: torch.from_numpy(v) ...})``)."""
    return dict(arrays)


def from_native(weights, layout: Layout) -> dict:
    """A state dict, or the layer itself."""
    return dict(weights.state_dict() if hasattr(weights, "state_dict") else weights)
