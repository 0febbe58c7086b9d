"""The frameworks page: each framework layer, the cell it computes, the cell's equations, the
weight layout and the agreement measured by ``python -m verify against`` (its JSON report).

Built from ``derive.frameworks.LAYOUTS`` (the layouts) and the report; rendered by ``derive.pages.render``.
"""

from __future__ import annotations

from derive.ad.adjoint import Derivation
from derive.frameworks import LAYOUTS
from derive.frameworks.layout import Layout
from derive.io.writer import sha256
from derive.pages.model import Equation, Heading, Paragraph, Table, Page
from derive.pages.latex import CellLatexPrinter
from derive.naming import latex_name
from derive.pages.prose import PROSE as PAGE_PROSE
from derive.ad.maps import known_names

PROSE = {
    "en": {
        "title": "Frameworks: which cell each recurrent layer computes",
        "intro": "Each row names a framework's layer, the built-in gatecalc cell it computes and "
                 "how its weights are laid out. The figures come from `{source}`, written by "
                 "`python -m verify against all --json {source}`: the layer, loaded with the "
                 "generated module's parameters converted by `derive.frameworks`, runs beside "
                 "the module on the same input and initial state; the errors are `check`'s "
                 "(normwise relative and hybrid elementwise), for the output, the final state "
                 "and, where the framework gives gradients, every gradient of the loss "
                 "$L = \\sum w_y \\odot y + \\sum_s w_s \\odot s_T$. Thresholds: 1e-10 in float64, "
                 "1e-5 in float32 (where the layer computes in float32 only).",
        "convert": "Converting, numpy only: `derive.frameworks.from_framework(\"torch\", \"lstm\", "
                   "layer.state_dict())` gives the cell's `params`, `to_framework(\"torch\", "
                   "\"lstm\", params)` the framework's weights (a state dict, Keras's weights "
                   "list, ONNX initialisers, Flax's nested params).",
        "summary": "Summary",
        "layer": "layer", "options": "options", "cell": "cell", "worst": "worst error",
        "threshold": "threshold", "status": "status", "pass": "pass", "fail": "FAIL",
        "equations": "The cell's equations (project notation):",
        "layout": "Weight layout (blocks in the framework's order; a parameter listed twice: "
                  "its first block holds it, the later ones are written as zeros and summed on "
                  "import; two parameters in one block: their sum; `-`: ignored by the layer):",
        "array": "framework array", "shape": "shape", "blocks": "gate blocks",
        "params": "gatecalc parameters",
        "measured": "Measured ({version}, {dtype}, T,B,M,D = {sizes}, seed {seed}): {status}.",
        "no_run": "Not measured yet: `python -m verify against {framework} {cell} --json FILE`.",
        "stale": "The figures in the report were measured on another version of the generated "
                 "module: measure again.",
        "traps": "Traps",
        "options_line": "Options: {options}. {traps}: {notes}.",
        "none": "none",
    },
    "zh": {
        "title": "各框架的循环层：分别对应哪个单元",
        "intro": "每一行给出一个框架的循环层、它所计算的 gatecalc 内置单元以及权重的排列方式。"
                 "数据来自 `{source}`（由 `python -m verify against all --json {source}` 生成）："
                 "把生成模块的参数经 `derive.frameworks` 转换后装入该层，与生成模块在同一输入、"
                 "同一初始状态上并排运行；误差的度量与 `check` 相同（范数相对误差与逐元素混合误差），"
                 "比较输出、最终状态，以及框架能给出梯度时损失 "
                 "$L = \\sum w_y \\odot y + \\sum_s w_s \\odot s_T$ 的每一个梯度。"
                 "阈值：float64 为 1e-10，float32 为 1e-5（仅用于只能以 float32 计算的层）。",
        "convert": "转换只需要 numpy：`derive.frameworks.from_framework(\"torch\", \"lstm\", "
                   "layer.state_dict())` 得到单元的 `params`，`to_framework(\"torch\", \"lstm\", "
                   "params)` 得到框架的权重（state dict、Keras 的权重列表、ONNX 初始值、"
                   "Flax 的嵌套参数）。",
        "summary": "总览",
        "layer": "层", "options": "参数", "cell": "单元", "worst": "最大误差",
        "threshold": "阈值", "status": "结果", "pass": "通过", "fail": "失败",
        "equations": "该单元的方程（本项目的记号）：",
        "layout": "权重排列（按框架中的块顺序；同一参数出现两次时，第一个块存放它，后面的块导出时"
                  "写零、导入时相加；一个块含两个参数时存放它们的和；`-` 表示该层不使用）：",
        "array": "框架数组", "shape": "形状", "blocks": "门块", "params": "gatecalc 参数",
        "measured": "实测（{version}，{dtype}，T,B,M,D = {sizes}，种子 {seed}）：{status}。",
        "no_run": "尚未测量：`python -m verify against {framework} {cell} --json FILE`。",
        "stale": "报告中的数据测于另一版本的生成模块：请重新测量。",
        "traps": "注意事项",
        "options_line": "参数：{options}。{traps}：{notes}。",
        "none": "无",
    },
}


def frameworks_page(report: dict | None, lang: str, source: str,
                    derivations: dict[str, Derivation], modules: dict[str, str]) -> Page:
    """``derivations`` and ``modules``: each cell's derivation and generated module text (figures
    are shown only for the module they were measured on); ``source``: the report's path."""
    t = PROSE[lang]
    results = {(r["framework"], r["cell"]): r for r in (report or {}).get("results", [])}
    parts = [Paragraph(t["intro"].format(source=source)), Paragraph(t["convert"]),
             Heading(t["summary"])]
    rows = []
    for key, layout in LAYOUTS.items():
        result = results.get(key)
        rows.append((layout.layer, _options(layout, t), layout.cell, layout.dtype,
                     *_summary(result, modules[layout.cell], t)))
    parts.append(Table((t["layer"], t["options"], t["cell"], "dtype", t["worst"], t["threshold"],
                        t["status"]), tuple(rows)))
    for key, layout in LAYOUTS.items():
        parts += _layer_parts(layout, results.get(key), modules[layout.cell], t, lang,
                              derivations[layout.cell])
    return Page("frameworks", t["title"], lang, ("gatecalc", "LSTM", "GRU", "interop"),
                tuple(parts))


def _options(layout: Layout, t: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in layout.options) or t["none"]


def _current(result: dict | None, module: str) -> bool:
    return result is not None and result.get("module_sha256") == sha256(module)


def _summary(result: dict | None, module: str, t: dict) -> tuple[str, str, str]:
    if not _current(result, module):
        return "-", "-", "-"
    errors = [c["normwise_rel_err"] for c in result["checks"]
              if isinstance(c["normwise_rel_err"], (int, float))]
    return (f"{max(errors):.1e}" if errors else "-", f"{result['checks'][0]['threshold']:g}",
            t["pass"] if result["passed"] else t["fail"])


def _layer_parts(layout: Layout, result: dict | None, module: str, t: dict, lang: str,
                 derivation: Derivation) -> list:
    cell = layout.cell
    parts = [Heading(f"{layout.layer} → {cell}"),
             Paragraph(t["options_line"].format(
                 options=_options(layout, t), traps=t["traps"],
                 notes=layout.notes[0 if lang == "en" else 1] or t["none"])),
             Paragraph(t["equations"])]
    parts += [Equation((text,)) for text in _equations(derivation)]
    rows = tuple((array.name, layout.shape_text(array), ", ".join(b.gate for b in array.blocks),
                  ", ".join(" + ".join(b.params) or "-" for b in array.blocks))
                 for array in layout.arrays)
    parts.append(Table((t["array"], t["shape"], t["blocks"], t["params"]), rows,
                       caption=t["layout"]))
    if result is None:
        return parts + [Paragraph(t["no_run"].format(framework=layout.framework, cell=cell))]
    if not _current(result, module):
        return parts + [Paragraph(t["stale"])]
    sizes = ",".join(str(result["sizes"][k]) for k in ("T", "B", "M", "D"))
    caption = t["measured"].format(
        version=result.get("framework_version", "?"), dtype=result["dtype"], sizes=sizes,
        seed=result["seed"], status=t["pass"] if result["passed"] else t["fail"])
    rows = tuple((c["wrt"], _figure(c["normwise_rel_err"]), _figure(c["hybrid_err"]),
                  f"{c['threshold']:g}", t["pass"] if c["passed"] else t["fail"])
                 for c in result["checks"])
    words = PAGE_PROSE[lang]  # the verification page's column heads
    return parts + [Table((words["wrt"], words["normwise"], words["hybrid"], t["threshold"],
                           t["status"]), rows,
                          caption=caption)]


def _equations(derivation: Derivation) -> list[str]:
    """The cell's forward equations in LaTeX, as its own page prints them."""
    cell = derivation.cell
    tex = CellLatexPrinter(cell, known_names(derivation)).doprint
    return [f"{latex_name(eq.target, cell)} = {tex(eq.display)}" for eq in cell.equations]


def _figure(value) -> str:
    if value is None:
        return "-"
    return value if isinstance(value, str) else f"{value:.1e}"
