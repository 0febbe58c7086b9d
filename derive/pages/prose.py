"""The words around the equations (inline math as $...$, `code` in backticks), in English and Chinese (the seed article's terms:
遗忘门 forget gate, 输入门 input gate, 输出门 output gate, 候选状态 candidate state,
记忆单元 memory cell, 外部状态 external state)."""

PROSE = {
    "en": {
        "tag": "derivation",
        "verification_tag": "verification",
        "colon": ": ",
        "cell_title": "{name}: {title}",
        "variant_heading": "{name}: {title}",
        "dtype": "dtype",
        "wrt": "with respect to", "normwise": "normwise error", "hybrid": "hybrid error",
        "report_line": "`{method}`, {dtype}, seed {seed}, T,B,M,D = {sizes}: {status}",
        "bptt_output": "The loss's gradient $\\partial L / \\partial y_{{t}}$ at step t is added to {h}.",
        "added_to": "is added to",
        "contents": "Contents",
        "source": "Source",
        "notation": "Notation: every equation holds per unit; $\\odot$ is the elementwise product, $\\sigma$ "
                    "the logistic function, subscript $t$ the time step, $t-1$ the previous step. "
                    "The input gate $i$, forget gate $f$ and output gate $o$ control the memory "
                    "cell $c$; the candidate state is $\\tilde{c}$ and the external state $h$.",
        "forward": "Forward equations",
        "forward_intro": "One step, as written in the spec (terms in the order written):",
        "stacked": "Stacked form",
        "stacked_intro": "The linear maps that share an operand form one matrix product, as in "
                         "the article's $W \\in \\mathbb{R}^{4D \\times (M+D)}$; the generated code computes them so.",
        "local": "Local derivatives",
        "local_intro": "Each derivative as SymPy computes it from the equation in built-in "
                       "functions, then in the form the code uses (in terms of values kept from "
                       "the forward pass). Every displayed equality was confirmed by SymPy when "
                       "this page was built.",
        "adjoint": "Adjoint equations",
        "adjoint_intro": "$\\delta v = \\partial L / \\partial v$, in the order they are computed within one step (reverse "
                         "order of the forward pass); $\\delta v^{(t+1)}$ is what arrives from the "
                         "step after, $W^{\\top} \\delta a$ is a linear map's adjoint.",
        "aliases": "The adjoints of the linear maps' results equal the adjoints above:",
        "params": "Parameter gradients",
        "params_intro": "Summed over time (and over the batch):",
        "bptt": "Backpropagation through time",
        "bptt_intro": "The adjoint of each state's previous value, computed at step t+1, is what "
                      "arrives at step t; the output also receives $\\partial L / \\partial y_{t}$ from the loss:",
        "bptt_end": "At the last step the arriving adjoints are those of the loss with respect to "
                    "the final state. The sequence backward is the step backward in a reversed "
                    "loop, with the parameter gradients summed.",
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
        "method": "method", "worst": "worst error", "threshold": "threshold",
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
    },
    "zh": {
        "tag": "理论推导",
        "verification_tag": "验证",
        "colon": "：",
        "cell_title": "{name}：{title}",
        "variant_heading": "{name}：{title}",
        "dtype": "数据类型",
        "wrt": "对象", "normwise": "范数相对误差", "hybrid": "混合误差",
        "report_line": "`{method}`，{dtype}，随机种子 {seed}，T,B,M,D = {sizes}：{status}",
        "bptt_output": "损失在时刻 t 的梯度 $\\partial L / \\partial y_{{t}}$ 加到 {h} 上。",
        "added_to": "加到",
        "contents": "目录",
        "source": "来源",
        "notation": "记号：每个方程都按单元（逐元素）成立；$\\odot$ 为向量元素乘积，$\\sigma$ 为 Logistic 函数，"
                    "下标 $t$ 为当前时刻，$t-1$ 为上一时刻。输入门 $i$、遗忘门 $f$ 和输出门 $o$ 控制记忆单元 $c$；"
                    "候选状态为 $\\tilde{c}$，外部状态为 $h$。",
        "forward": "前向方程",
        "forward_intro": "一个时刻的计算，按规格文件中的写法（各项保持书写顺序）：",
        "stacked": "堆叠形式",
        "stacked_intro": "共享同一操作数的线性映射合并为一次矩阵乘法，即文章中的 $W \\in \\mathbb{R}^{4D \\times (M+D)}$；"
                         "生成的代码正是这样计算的。",
        "local": "局部导数",
        "local_intro": "每个导数先给出 SymPy 由内置函数形式的方程直接求得的结果，再给出代码所用的形式"
                       "（用前向传播保存的值表示）。页面中的每个等式都在生成时经 SymPy 验证。",
        "adjoint": "伴随方程",
        "adjoint_intro": "$\\delta v = \\partial L / \\partial v$，按一个时刻内的计算顺序排列（与前向顺序相反）；$\\delta v^{(t+1)}$ "
                         "表示从下一时刻传回的量，$W^{\\top} \\delta a$ 为线性映射的伴随。",
        "aliases": "线性映射结果的伴随与上面的伴随相等：",
        "params": "参数梯度",
        "params_intro": "对时间（以及批量）求和：",
        "bptt": "随时间反向传播",
        "bptt_intro": "在时刻 t+1 计算得到的各状态上一时刻值的伴随，传回到时刻 t；输出还接收损失的 "
                      "$\\partial L / \\partial y_{t}$：",
        "bptt_end": "在最后一个时刻，传入的伴随是损失对最终状态的导数。整个序列的反向传播就是把单步"
                    "反向放在逆序循环中，并把参数梯度累加。",
        "code": "生成的代码",
        "code_intro": "生成模块中的单步反向函数，与上面的方程由同一组 SymPy 对象打印而来：",
        "verification": "验证",
        "no_report": "尚无验证报告：先运行 `python -m verify check --all --method all "
                     "--json docs/verification.json`，再运行 `python -m derive regen`。",
        "stale_report": "`docs/verification.json` 中本单元的结果是在其生成模块的另一个版本上测得的，"
                        "因此一概不予显示：先运行 `python -m verify check --all --method all --json "
                        "docs/verification.json`，再运行 `python -m derive regen`。",
        "stale_results": "未显示：{n} 条结果是在生成模块的另一个版本上测得的。",
        "report_intro": "来自 `docs/verification.json` 的最新结果（所有参数、输入和初始状态中最大的"
                        "范数相对误差）：",
        "method": "方法", "worst": "最大误差", "threshold": "阈值",
        "status": "结果", "pass": "通过", "fail": "失败",
        "compare_title": "各变体与 {base} 的比较",
        "compare_intro": "由规格文件计算得出：每个变体相对于标准单元增加、删除或修改了哪些方程。",
        "removed": "删除了 `{name}` 的方程：",
        "added": "增加了 `{name}` 的方程：",
        "changed": "修改了 `{name}` 的方程：",
        "same": "未变：{names}。",
        "param_diff": "增加的参数：{added}；删除的参数：{removed}。",
        "report_title": "验证报告",
        "report_page_intro": "每个单元的每项检查，来自 `{source}`；对每个参数、输入和初始状态给出范数"
                             "相对误差、混合逐元素误差和阈值。",
    },
}
