"""The words around the equations (inline math as $...$, `code` in backticks), in English and
Chinese. The Chinese follows the seed article (Baileys《LSTM》): 循环单元 the cell, 记忆单元 the
memory cell c (its 内部状态), 外部状态 h, 候选状态, 遗忘门/输入门/输出门, 逐元素 per unit, and the
textbook's 误差项 δ for ∂L/∂v; full-width punctuation."""

PROSE = {
    "en": {
        "tag": "derivation",
        "verification_tag": "verification",
        "cell_title": "{name}: {title}",
        "variant_heading": "{name}: {title}",
        "contents": "Contents",
        "source": "Source: {}",
        "paren": " ({})",
        "list_sep": ", ",
        "sentence_sep": " ",
        "external_state": "external state, the output",
        "memory_cell": "memory cell",
        "notation_symbols": "Notation: every equation holds elementwise (for each unit of the "
                            "vectors); $\\odot$ is the elementwise product, $t$ the time step and "
                            "$t-1$ the step before.",
        "notation_gates": "Gates, with values in (0, 1): {}.",
        "notation_candidates": "Candidate state: {}.",
        "notation_states": "Carried to the next step: {}.",
        "notation_others": "Intermediate values: {}.",
        "notation_sigma": "$\\sigma$ is the logistic function.",
        "forward": "Forward equations",
        "forward_intro": "One step, as written in the spec (terms in the order written):",
        "stacked": "Stacked form",
        "stacked_intro": "The linear maps that share an operand form one matrix product; the "
                         "generated code computes them so.",
        "stacked_article": "{matrix} is the matrix $W$ of {article}.",
        "local": "Local derivatives",
        "local_intro": "Each derivative as SymPy computes it from the equation in built-in "
                       "functions, then in the form the code uses (in terms of values kept from "
                       "the forward pass). Every displayed equality was confirmed by SymPy when "
                       "this page was built.",
        "adjoint": "Error terms within one step",
        "adjoint_intro": "The error term of a value $v$ is $\\delta v = \\partial L / \\partial v$. "
                         "They are computed in the reverse order of the forward pass; "
                         "$\\delta v^{(t+1)}$ is what arrives from the step after, and a linear "
                         "map $W v$ passes $W^{\\top} \\delta(W v)$ back to $v$.",
        "aliases": "The error term of each linear map's result is one shown above:",
        "params": "Parameter gradients",
        "params_intro": "Summed over time (and over the batch):",
        "bptt": "Backpropagation through time",
        "bptt_intro": "The error term of a state's previous value, computed at step t+1, is "
                      "what arrives at step t:",
        "bptt_output": "The loss's gradient $\\partial L / \\partial y_{{t}}$ at step t is added "
                       "to {h}.",
        "bptt_end": "At the last step the arriving error terms are those of the loss with "
                    "respect to the final state. The sequence backward is the step backward in a "
                    "reversed loop, with the parameter gradients summed.",
        "code": "Generated code",
        "code_intro": "The step backward of the generated module, printed from the same SymPy "
                      "objects as the equations above:",
        "verification": "Verification",
        "no_report": "No verification report yet: run `python -m verify check --all --method all "
                     "--json docs/verification.json`, then `python -m derive regen`.",
        "stale_report": "The figures for this cell in `docs/verification.json` were measured on "
                        "another version of its generated module, so none is shown: run `python -m "
                        "verify check --all --method all --json docs/verification.json`, then "
                        "`python -m derive regen`.",
        "stale_results": "Not shown: {n} result(s) measured on another version of the generated "
                         "module.",
        "report_intro": "Latest figures from `docs/verification.json` (worst normwise relative "
                        "error over all parameters, the input and the initial state):",
        "method": "method", "dtype": "dtype", "worst": "worst error", "threshold": "threshold",
        "status": "status", "pass": "pass", "fail": "FAIL",
        "compare_title": "Variants compared with {base}",
        "compare_intro": "Computed from the specs: for each variant, the equations it adds, "
                         "removes or changes relative to the standard cell.",
        "removed": "Removes the equation for `{name}`:",
        "added": "Adds an equation for `{name}`:",
        "changed": "Changes the equation for `{name}`:",
        "same": "Unchanged: {names}.",
        "param_diff": "Parameters added: {added}; removed: {removed}.",
        "report_title": "Verification report",
        "report_page_intro": "Every check of every cell, from `{source}`; per parameter, input "
                             "and initial state: the normwise relative error, the hybrid "
                             "elementwise error and the threshold.",
        "report_line": "`{method}`, {dtype}, seed {seed}, T,B,M,D = {sizes}: {status}",
        "wrt": "with respect to", "normwise": "normwise error", "hybrid": "hybrid error",
    },
    "zh": {
        "tag": "理论推导",
        "verification_tag": "验证",
        "cell_title": "{name}：{title}",
        "variant_heading": "{name}：{title}",
        "contents": "目录",
        "source": "来源：{}",
        "paren": "（{}）",
        "list_sep": "、",
        "sentence_sep": "",
        "external_state": "外部状态，即输出",
        "memory_cell": "记忆单元，即内部状态",
        "notation_symbols": "记号说明：下面的每个等式都是逐元素成立的，即对向量的每一维分别成立；"
                            "$\\odot$ 为向量元素乘积，$t$ 表示当前时刻，$t-1$ 表示上一时刻。",
        "notation_gates": "门（取值在 0 和 1 之间）：{}。",
        "notation_candidates": "候选状态：{}。",
        "notation_states": "传给下一时刻的状态：{}。",
        "notation_others": "中间量：{}。",
        "notation_sigma": "$\\sigma$ 为 Logistic 函数。",
        "forward": "前向计算",
        "forward_intro": "一个时刻的计算，与规格文件中写的一致（各项顺序不变）：",
        "stacked": "合并成矩阵的形式",
        "stacked_intro": "作用在同一个向量上的矩阵可以上下拼成一个大矩阵，只做一次矩阵乘法；"
                         "生成的代码就是这样计算的。",
        "stacked_article": "{matrix} 就是 {article} 中的矩阵 $W$。",
        "local": "局部导数",
        "local_intro": "每个导数先写成 SymPy 对原始方程（用 $\\sigma$、$\\tanh$ 等函数表示）直接求导的结果，"
                       "再写成代码中使用的形式（用前向计算时保存下来的值表示）。"
                       "页面上的每个等式在生成页面时都经 SymPy 验证过。",
        "adjoint": "一个时刻内的误差项",
        "adjoint_intro": "记 $\\delta v = \\partial L / \\partial v$ 为量 $v$ 的误差项。"
                         "误差项按与前向计算相反的顺序求出；$\\delta v^{(t+1)}$ 是从下一时刻传回来的"
                         "误差项；矩阵乘积 $W v$ 把 $W^{\\top} \\delta(W v)$ 传回给 $v$。",
        "aliases": "各矩阵乘积的误差项就是上面已经求出的误差项：",
        "params": "参数的梯度",
        "params_intro": "对所有时刻（以及一个批量中的所有样本）求和：",
        "bptt": "随时间反向传播",
        "bptt_intro": "在时刻 t+1 求出的、关于上一时刻状态的误差项，就是传回时刻 t 的误差项：",
        "bptt_output": "此外，损失在时刻 t 的梯度 $\\partial L / \\partial y_{{t}}$ 也要加到 {h} 上。",
        "bptt_end": "在最后一个时刻，传入的误差项是损失对最终状态的梯度。整个序列的反向传播，"
                    "就是把单个时刻的反向计算按时间倒序循环执行，并把各时刻的参数梯度累加起来。",
        "code": "生成的代码",
        "code_intro": "生成的模块中单个时刻的反向计算函数。它和上面的公式由同一组 SymPy 表达式打印而来：",
        "verification": "验证",
        "no_report": "还没有验证报告：先运行 `python -m verify check --all --method all "
                     "--json docs/verification.json`，再运行 `python -m derive regen`。",
        "stale_report": "`docs/verification.json` 中这个循环单元的数据是在旧版本的生成代码上测得的，"
                        "所以这里不显示：先运行 `python -m verify check --all --method all --json "
                        "docs/verification.json`，再运行 `python -m derive regen`。",
        "stale_results": "有 {n} 条结果是在旧版本的生成代码上测得的，未显示。",
        "report_intro": "`docs/verification.json` 中的最新数据（在所有参数、输入和初始状态中，"
                        "取最大的范数相对误差）：",
        "method": "检验方法", "dtype": "数据类型", "worst": "最大误差", "threshold": "阈值",
        "status": "结果", "pass": "通过", "fail": "未通过",
        "compare_title": "各种变体与 {base} 的比较",
        "compare_intro": "以下内容由规格文件自动比较得出：每种变体相对于标准 LSTM 增加、删去或改动了哪些公式。",
        "removed": "删去了 `{name}` 的公式：",
        "added": "增加了 `{name}` 的公式：",
        "changed": "改动了 `{name}` 的公式：",
        "same": "没有改动的公式：{names}。",
        "param_diff": "增加的参数：{added}；删去的参数：{removed}。",
        "report_title": "验证报告",
        "report_page_intro": "每个循环单元的每一项检验，数据来自 `{source}`。对每个参数、输入和初始状态，"
                             "列出范数相对误差、混合误差（逐元素）和阈值。",
        "report_line": "`{method}`，{dtype}，随机种子 {seed}，T,B,M,D = {sizes}：{status}",
        "wrt": "求导对象", "normwise": "范数相对误差", "hybrid": "混合误差",
    },
}
