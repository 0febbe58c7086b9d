"""Words a page needs about a cell that its spec does not hold: the names of the usual gates, the
seed article's citation, and Chinese titles and source notes of the built-in cells (a user's
cell shows its spec's own title and source in both languages)."""

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

TITLES_ZH = {
    "lstm": "长短期记忆网络（标准结构）",
    "peephole": "带窥视孔连接的 LSTM",
    "nfg": "无遗忘门的 LSTM",
    "cifg": "耦合输入门和遗忘门的 LSTM",
    "nig": "无输入门的 LSTM",
    "nog": "无输出门的 LSTM",
    "niaf": "候选状态无激活函数的 LSTM",
    "noaf": "输出无激活函数的 LSTM",
    "fgr": "门之间全连接循环的 LSTM",
    "lstmp": "带循环投影层的 LSTM",
    "gru": "门控循环单元（PyTorch 的形式）",
}

_GREFF = "Greff、Srivastava、Koutník、Steunebrink、Schmidhuber，LSTM: A Search Space Odyssey，IEEE TNNLS，2017"
SOURCES_ZH = {
    "lstm": "Hochreiter、Schmidhuber，1997；Gers、Schmidhuber、Cummins，2000（遗忘门）；"
            f"{_GREFF}（NP：无窥视孔连接）",
    "peephole": f"Gers、Schmidhuber，2000；{_GREFF}（vanilla LSTM）",
    "nfg": f"Hochreiter、Schmidhuber，1997（最早的 LSTM）；{_GREFF}（NFG）；"
           f"与{ARTICLE['zh']}的“无遗忘门的LSTM网络”一节相同，不带窥视孔连接",
    "cifg": f"{_GREFF}（CIFG：f = 1 − i，源自 Cho 等，2014）；"
            f"与{ARTICLE['zh']}的“耦合输入门和遗忘门”一节相同，不带窥视孔连接",
    "nig": f"{_GREFF}（NIG：i = 1）；窥视孔连接同其 vanilla LSTM",
    "nog": f"{_GREFF}（NOG：o = 1）；窥视孔连接同其 vanilla LSTM",
    "niaf": f"{_GREFF}（NIAF：候选状态为线性）；窥视孔连接同其 vanilla LSTM",
    "noaf": f"{_GREFF}（NOAF：h = o ⊙ c）；窥视孔连接同其 vanilla LSTM",
    "fgr": f"{_GREFF}（FGR：每个门通过九个矩阵 R 接收上一时刻的各个门）；窥视孔连接同其 vanilla LSTM",
    "lstmp": "Sak、Senior、Beaufays，Long Short-Term Memory Recurrent Neural Network Architectures "
             "for Large Scale Acoustic Modeling，Interspeech，2014；PyTorch torch.nn.LSTM(proj_size=P)",
    "gru": "Cho 等，2014；PyTorch torch.nn.GRU（重置门作用在循环矩阵乘积之后，每个门两个偏置）",
}


def title(name: str, spec_title: str, lang: str) -> str:
    return TITLES_ZH.get(name, spec_title) if lang == "zh" else spec_title


def source(name: str, spec_source: str, lang: str) -> str:
    return SOURCES_ZH.get(name, spec_source) if lang == "zh" else spec_source
