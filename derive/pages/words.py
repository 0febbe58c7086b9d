"""Words a page needs about a cell that its spec does not hold: the names of the usual gates, the
seed article's citation, and Chinese titles and source notes of the built-in cells, looked up by
the English text their specs hold (a user's cell, or an edited title, shows as written)."""

from __future__ import annotations

# The Chinese article this project began from (its front matter: title "LSTM", Baileys,
# 2022-05-25; first heading 长短期记忆网络).
ARTICLE = {
    "en": "Baileys, “LSTM” (2022, in Chinese)",
    "zh": "Baileys《LSTM》（长短期记忆网络，2022）",
}

GATES = {  # a gate's usual name, by the letter the literature gives it
    "en": {"i": "input gate", "f": "forget gate", "o": "output gate", "r": "reset gate",
           "z": "update gate"},
    "zh": {"i": "输入门", "f": "遗忘门", "o": "输出门", "r": "重置门", "z": "更新门"},
}

TITLES_ZH = {  # by the English title a built-in spec holds: an edited title is shown as written
    'Long short-term memory (standard cell)': '长短期记忆网络（标准结构）',
    'LSTM with peephole connections': '带窥视孔连接的 LSTM',
    'LSTM without a forget gate': '无遗忘门的 LSTM',
    'LSTM with coupled input and forget gates': '耦合输入门和遗忘门的 LSTM',
    'LSTM without an input gate': '无输入门的 LSTM',
    'LSTM without an output gate': '无输出门的 LSTM',
    'LSTM without the input activation function': '候选状态无激活函数的 LSTM',
    'LSTM without the output activation function': '输出无激活函数的 LSTM',
    'LSTM with full gate recurrence': '门之间全连接循环的 LSTM',
    'LSTM with a recurrent projection layer': '带循环投影层的 LSTM',
    "Gated recurrent unit (PyTorch's form)": '门控循环单元（PyTorch 的形式）',
    "Gated recurrent unit (Cho et al.'s form, reset before U_n)":
        '门控循环单元（Cho 等人的原始形式，重置门作用在循环矩阵乘积之前）',
}

_GREFF = "Greff、Srivastava、Koutník、Steunebrink、Schmidhuber，LSTM: A Search Space Odyssey，IEEE TNNLS，2017"
_SOURCES_ZH_BY_CELL = {
    "lstm": "Hochreiter、Schmidhuber，1997；Gers、Schmidhuber、Cummins，2000（遗忘门）；"
            f"{_GREFF}（NP：无窥视孔连接）",
    "peephole": f"Gers、Schmidhuber，2000；{_GREFF}（vanilla LSTM）",
    "nfg": f"Hochreiter、Schmidhuber，1997（最早的 LSTM）；{_GREFF}（NFG）；"
           f"与{ARTICLE['zh']}的“无遗忘门的LSTM网络”一节相同，不带窥视孔连接",
    "cifg": f"{_GREFF}（CIFG：$f = 1 - i$，源自 Cho 等，2014）；"
            f"与{ARTICLE['zh']}的“耦合输入门和遗忘门”一节相同，不带窥视孔连接",
    "nig": f"{_GREFF}（NIG：$i = 1$）；窥视孔连接同其 vanilla LSTM",
    "nog": f"{_GREFF}（NOG：$o = 1$）；窥视孔连接同其 vanilla LSTM",
    "niaf": f"{_GREFF}（NIAF：候选状态为线性）；窥视孔连接同其 vanilla LSTM",
    "noaf": f"{_GREFF}（NOAF：$h = o \\odot c$）；窥视孔连接同其 vanilla LSTM",
    "fgr": f"{_GREFF}（FGR：每个门通过九个矩阵 R 接收上一时刻的各个门）；窥视孔连接同其 vanilla LSTM",
    "lstmp": "Sak、Senior、Beaufays，Long Short-Term Memory Recurrent Neural Network Architectures "
             "for Large Scale Acoustic Modeling，Interspeech，2014；PyTorch torch.nn.LSTM(proj_size=P)",
    "gru": "Cho 等，2014；PyTorch torch.nn.GRU（重置门作用在循环矩阵乘积之后，每个门两个偏置）",
    "gru_cho": "Cho 等，Learning Phrase Representations using RNN Encoder-Decoder for Statistical "
               "Machine Translation，EMNLP，2014；Keras GRU(reset_after=False)；ONNX GRU "
               "linear_before_reset=0（重置门先作用在 $h_{t-1}$ 上，再乘循环矩阵；"
               "与 ONNX 的 B 一样每个门两个偏置，都在重置门之外）",
}
SOURCES_ZH = {  # by the English source note a built-in spec holds, as the titles
    'Hochreiter & Schmidhuber 1997; Gers, Schmidhuber & Cummins 2000 (forget gate); Greff et al., LSTM: A Search Space Odyssey, 2017 (NP: no peepholes)': _SOURCES_ZH_BY_CELL['lstm'],
    'Gers & Schmidhuber 2000; Greff et al., LSTM: A Search Space Odyssey, 2017 (vanilla LSTM)': _SOURCES_ZH_BY_CELL['peephole'],
    'Hochreiter & Schmidhuber 1997 (the original LSTM); Greff et al., LSTM: A Search Space Odyssey, 2017 (NFG), here without peepholes, as in Baileys, "LSTM" (长短期记忆网络, 2022), section 无遗忘门的LSTM网络': _SOURCES_ZH_BY_CELL['nfg'],
    'Greff et al., LSTM: A Search Space Odyssey, 2017 (CIFG: f = 1 - i, after Cho et al. 2014), here without peepholes, as in Baileys, "LSTM" (长短期记忆网络, 2022), section 耦合输入门和遗忘门': _SOURCES_ZH_BY_CELL['cifg'],
    'Greff, Srivastava, Koutník, Steunebrink & Schmidhuber, LSTM: A Search Space Odyssey, IEEE TNNLS 2017 (NIG: i = 1); peepholes as in their vanilla LSTM': _SOURCES_ZH_BY_CELL['nig'],
    'Greff, Srivastava, Koutník, Steunebrink & Schmidhuber, LSTM: A Search Space Odyssey, IEEE TNNLS 2017 (NOG: o = 1); peepholes as in their vanilla LSTM': _SOURCES_ZH_BY_CELL['nog'],
    'Greff, Srivastava, Koutník, Steunebrink & Schmidhuber, LSTM: A Search Space Odyssey, IEEE TNNLS 2017 (NIAF: the candidate is linear); peepholes as in their vanilla LSTM': _SOURCES_ZH_BY_CELL['niaf'],
    'Greff, Srivastava, Koutník, Steunebrink & Schmidhuber, LSTM: A Search Space Odyssey, IEEE TNNLS 2017 (NOAF: h = o * c); peepholes as in their vanilla LSTM': _SOURCES_ZH_BY_CELL['noaf'],
    "Greff, Srivastava, Koutník, Steunebrink & Schmidhuber, LSTM: A Search Space Odyssey, IEEE TNNLS 2017 (FGR: every gate sees the previous step's gates through nine matrices R); peepholes as in their vanilla LSTM": _SOURCES_ZH_BY_CELL['fgr'],
    'Sak, Senior & Beaufays, Long Short-Term Memory Recurrent Neural Network Architectures for Large Scale Acoustic Modeling, Interspeech 2014; PyTorch torch.nn.LSTM(proj_size=P)': _SOURCES_ZH_BY_CELL['lstmp'],
    'Cho et al. 2014; PyTorch torch.nn.GRU (reset applied after the recurrent product, two biases per gate)': _SOURCES_ZH_BY_CELL['gru'],
    "Cho et al., Learning Phrase Representations using RNN Encoder-Decoder for Statistical Machine Translation, EMNLP 2014; Keras GRU(reset_after=False); ONNX GRU linear_before_reset=0 (two biases per gate as in ONNX's B, both outside the reset)": _SOURCES_ZH_BY_CELL['gru_cho'],
}


def title(spec_title: str, lang: str) -> str:
    return TITLES_ZH.get(spec_title, spec_title) if lang == "zh" else spec_title


def source(spec_source: str, lang: str) -> str:
    return SOURCES_ZH.get(spec_source, spec_source) if lang == "zh" else spec_source
