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
        "compare_title": "Variants, each compared with its base cell",
        "compare_intro": "Computed from the specs: for each variant, what it adds, removes or "
                         "changes relative to the cell it is a variant of (the spec's `base`), "
                         "in the forward equations and in the backward pass.",
        "removed": "Removes the equation for {name}:",
        "added": "Adds an equation for {name}:",
        "changed": "Changes the equation for {name}:",
        "same": "Unchanged: {names}.",
        "param_diff": "Parameters added: {added}; removed: {removed}.",
        "report_title": "Verification report",
        "report_page_intro": "Every check of every cell, from `{source}`; per parameter, input "
                             "and initial state: the normwise relative error, the hybrid "
                             "elementwise error and the threshold.",
        "report_line": "`{method}`, {dtype}, seed {seed}, T,B,M,D = {sizes}: {status}",
        "wrt": "with respect to", "normwise": "normwise error", "hybrid": "hybrid error",
        # content helper
        "pre_title": "Pre-activations",
        "pre_intro": "Each gate and candidate applies its function to a pre-activation, the "
                     "weighted sum of its inputs:",
        "param_title": "Parameters",
        "param_caption": "Every parameter: its shape, what it does and its initial value "
                         "($\\mathrm{U}$: uniform).",
        "param_name": "name", "param_shape": "shape", "param_role": "role",
        "param_init": "initial value",
        "role_matrix": "weights on {v} in {target}",
        "role_diagonal": "diagonal weights on {v} in {target} (elementwise)",
        "role_bias": "bias of {target}",
        "role_unused": "unused",
        "bias_reason": "The initial value {b} = {value} follows the article: when the gate's "
                       "parameters start small, the gate {gate} starts small, most of the "
                       "previous step's information is lost, the network can hardly learn "
                       "long-range dependencies, and the gradients between adjacent steps are "
                       "very small, so they vanish; hence the bias is set to 1 or 2. With "
                       "{b} = {value}, {gate} starts near $\\sigma({value}) \\approx {sigma}$.",
        "bias_figure_here": "The gradient-flow figure below measures the effect.",
        "bias_figure_variants": "The variants page measures the gradient flow of this cell "
                                "beside the others'.",
        "local_ones": "The other {n} local derivatives equal 1 (a sum passes its error term on "
                      "unchanged):",
        "recurrence_intro": "Over time, as Greff et al.'s appendix writes it: the error term of "
                            "each state at step t is what step t adds plus what the step after "
                            "sends back (one step's equation for the previous state, moved one "
                            "step later):",
        "recurrence_checked": "Derived by substitution from the equations of one step, and "
                              "confirmed by SymPy, when this page was built, against its own "
                              "derivative of the loss of the cell unrolled over two steps "
                              "(M = D = 1).",
        "why_title": "Why it works",
        "why_path": "The error term reaches {prev} from {s} directly, through no weight matrix "
                    "and no derivative of an activation function: {gain}.",
        "why_gate": "So each step back multiplies it elementwise by {g}: while {g} stays near 1, "
                    "the error crosses many steps almost unchanged (the constant error carousel "
                    "of Hochreiter and Schmidhuber); where {g} closes, the cell forgets and the "
                    "error stops there. Every other path goes through a matrix $U^{{\\top}}$ and "
                    "a gate's derivative (that of $\\sigma$ is at most 1/4) and shrinks.",
        "why_unit": "So it crosses each step unchanged (gain 1: the original LSTM's constant "
                    "error carousel): on this path the error never fades, but, as the article "
                    "notes, {s} itself can grow without bound.",
        "why_other": "The error is scaled by this factor at every step back.",
        "why_measured": "Measured with the generated module at initialisation (the spec's "
                        "initial values, random inputs): the mean norm of this error term is "
                        "{first} one step back and {last} at {k} steps back.",
        "diagram_title": "Diagram",
        "diagram_caption": "The cell drawn from its spec (layout by Graphviz): input and previous "
                           "states (blue), activation functions (yellow boxes), $\\odot$ and $+$ "
                           "nodes, new states (green); a weight labels the edge it acts along "
                           "(biases are not drawn); dashed: a state passed to the next step.",
        "no_dot": "not drawn: Graphviz's `dot` is not installed (Debian: `apt-get install "
                  "graphviz`)",
        "flow_caption": "Gradient flow at initialisation, measured with the generated module: "
                        "mean norm of {s} against the lag k, for {b} in {values} (loss "
                        "$L = u \\cdot y_T$, T = {T}, M = D = {D}, batch {B}, random inputs, "
                        "seed 0).",
        "no_matplotlib": "not plotted: matplotlib is not installed (`pip install -e '.[docs]'`)",
        "example_title": "Worked example",
        "example_intro": "M = D = 1, T = 2 and small rational numbers: every forward value and "
                         "every error term, computed by the generated module (float64) and by "
                         "SymPy from the exact rationals (40 significant digits), side by side.",
        "example_given": "Parameters, inputs and initial states: {}.",
        "example_loss": "Loss: {}.",
        "example_forward": "Forward values:",
        "example_backward": "Error terms, from the last step back:",
        "example_quantity": "quantity", "example_module": "generated module",
        "example_sympy": "SymPy",
        "compare_base": "Compared with {base}.",
        "backward_changed": "Error terms of one step that change: {names}.",
        "recurrence_changed": "Backpropagation through time changes for {name}:",
        "recurrence_added": "Backpropagation through time gains {name} (a state here only):",
        "recurrence_removed": "Backpropagation through time loses {name} (no longer a state):",
        "none": "none",
        "variants_flow_title": "Gradient flow of every cell",
        "variants_flow_caption": "Measured with each generated module at its spec's initial "
                                 "values: mean norm of the error term of the state that carries "
                                 "the error across steps, against the lag k (loss "
                                 "$L = u \\cdot y_T$, T = {T}, M = D = {D}, batch {B}, random "
                                 "inputs, seed 0).",
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
        "compare_title": "各种变体与其基础结构的比较",
        "compare_intro": "以下内容由规格文件自动比较得出：每种变体相对于它所改动的基础结构（规格文件中的 `base`），"
                         "在前向计算和反向传播中增加、删去或改动了哪些公式。",
        "removed": "删去了 {name} 的公式：",
        "added": "增加了 {name} 的公式：",
        "changed": "改动了 {name} 的公式：",
        "same": "没有改动的公式：{names}。",
        "param_diff": "增加的参数：{added}；删去的参数：{removed}。",
        "report_title": "验证报告",
        "report_page_intro": "每个循环单元的每一项检验，数据来自 `{source}`。对每个参数、输入和初始状态，"
                             "列出范数相对误差、混合误差（逐元素）和阈值。",
        "report_line": "`{method}`，{dtype}，随机种子 {seed}，T,B,M,D = {sizes}：{status}",
        "wrt": "求导对象", "normwise": "范数相对误差", "hybrid": "混合误差",
        # content helper
        "pre_title": "净输入",
        "pre_intro": "每个门和候选状态先求出净输入（各输入的加权和），再经过激活函数：",
        "param_title": "参数",
        "param_caption": "所有参数的形状、作用和初始值（$\\mathrm{U}$ 表示均匀分布）。",
        "param_name": "名称", "param_shape": "形状", "param_role": "作用",
        "param_init": "初始值",
        "role_matrix": "{target} 中作用于 {v} 的权重矩阵",
        "role_diagonal": "{target} 中与 {v} 逐元素相乘的对角权重",
        "role_bias": "{target} 的偏置",
        "role_unused": "未使用",
        "bias_reason": "初始值 {b} = {value} 依据文章的说明：“在训练 LSTM 网络时，过小的值会使得"
                       "遗忘门的值比较小。这意味着前一时刻的信息大部分都丢失了，这样网络很难捕捉到"
                       "长距离的依赖信息。并且相邻时间间隔的梯度会非常小，这会导致梯度弥散问题。"
                       "因此遗忘的参数初始值一般都设得比较大，其偏置向量设为1或2。”"
                       "取 {b} = {value} 时，{gate} 一开始约为 $\\sigma({value}) \\approx {sigma}$。",
        "bias_figure_here": "下面的梯度流图实测了这一点。",
        "bias_figure_variants": "变体比较页中的梯度流图把这个循环单元与其他循环单元放在一起实测。",
        "local_ones": "其余 {n} 个局部导数都等于 1（加法把误差项原样传下去）：",
        "recurrence_intro": "按时间展开，写成 Greff 等人论文附录中的形式：每个状态在时刻 t 的误差项，"
                            "等于时刻 t 本身的贡献加上下一时刻传回的部分（即单个时刻中关于上一时刻"
                            "状态的公式整体后移一个时刻）：",
        "recurrence_checked": "这些公式由单个时刻的公式代入得到；生成页面时，SymPy 把循环单元展开两个时刻"
                              "（M = D = 1），对损失直接求导，核对了每个公式。",
        "why_title": "为什么有效",
        "why_path": "误差项从 {s} 直接传到 {prev}，中间既不经过权重矩阵，也不经过激活函数的导数：{gain}。",
        "why_gate": "因此每往前传一个时刻，误差项就逐元素乘以 {g}：只要 {g} 接近 1，误差就能几乎不衰减地"
                    "跨过许多时刻（Hochreiter 和 Schmidhuber 所说的常数误差传送带）；{g} 关闭时，"
                    "记忆被遗忘，误差也就传到这里为止。其他路径都要经过矩阵 $U^{{\\top}}$ 和门的导数"
                    "（$\\sigma$ 的导数不超过 1/4），会逐步衰减。",
        "why_unit": "因此误差项每跨过一个时刻都保持不变（增益为 1，即最早的 LSTM 的常数误差传送带）："
                    "沿这条路径误差不会衰减，但正如文章所说，{s} 本身会不断增大。",
        "why_other": "每往前传一个时刻，误差项都乘以这个因子。",
        "why_measured": "用生成的代码在初始化时实测（规格文件中的初始值，随机输入）：这个误差项的平均范数"
                        "在往前 1 个时刻处为 {first}，在往前 {k} 个时刻处为 {last}。",
        "diagram_title": "结构图",
        "diagram_caption": "由规格文件画出的循环单元（Graphviz 排版）：输入和上一时刻的状态（蓝色）、"
                           "激活函数（黄色方框）、$\\odot$ 和 $+$ 节点、新的状态（绿色）；"
                           "权重标在它作用的边上（偏置未画出）；虚线：传给下一时刻的状态。",
        "no_dot": "未画出：没有安装 Graphviz 的 `dot`（Debian：`apt-get install graphviz`）",
        "flow_caption": "初始化时的梯度流，用生成的代码实测：{s} 的平均范数随时间间隔 k 的变化，"
                        "{b} 分别取 {values}（损失 $L = u \\cdot y_T$，T = {T}，M = D = {D}，"
                        "批量 {B}，随机输入，随机种子 0）。",
        "no_matplotlib": "未绘制：没有安装 matplotlib（`pip install -e '.[docs]'`）",
        "example_title": "数值算例",
        "example_intro": "取 M = D = 1、T = 2 和一些简单的有理数：每个前向计算的值和每个误差项，"
                         "分别由生成的代码（float64）和 SymPy（从精确的有理数出发，40 位有效数字）"
                         "算出，并排列出。",
        "example_given": "参数、输入和初始状态：{}。",
        "example_loss": "损失：{}。",
        "example_forward": "前向计算的值：",
        "example_backward": "误差项（从最后一个时刻往回）：",
        "example_quantity": "量", "example_module": "生成的代码",
        "example_sympy": "SymPy",
        "compare_base": "与 {base} 比较。",
        "backward_changed": "单个时刻中有变化的误差项：{names}。",
        "recurrence_changed": "随时间反向传播中 {name} 的公式有变化：",
        "recurrence_added": "随时间反向传播中新增 {name}（只有这里才是状态）：",
        "recurrence_removed": "随时间反向传播中不再有 {name}（不再是状态）：",
        "none": "无",
        "variants_flow_title": "各循环单元的梯度流",
        "variants_flow_caption": "用各自生成的代码、在规格文件给出的初始值下实测：跨时刻传递误差的那个状态，"
                                 "其误差项的平均范数随时间间隔 k 的变化（损失 $L = u \\cdot y_T$，"
                                 "T = {T}，M = D = {D}，批量 {B}，随机输入，随机种子 0）。",
    },
}
