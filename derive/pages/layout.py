"""Breaking long displayed equations into aligned lines, so no renderer has to shrink one.

Widths are estimated from the LaTeX (what a reader sees: a symbol per letter, none for
commands that only set style, the wider of a fraction's two parts); a page's text column holds
about ``WIDTH`` such symbols at body size."""

from __future__ import annotations

import re

from derive.pages.model import Equation

WIDTH = 64
_STYLE = re.compile(r"\\(left|right|mathit|mathrm|mathbb|operatorname|begin|end)\b|[{}]")
_SCRIPT = re.compile(r"[_^]\{[^{}]*\}|[_^].")
_FRACTION = re.compile(r"\\frac\{([^{}]*)\}\{([^{}]*)\}")
_COMMAND = re.compile(r"\\[A-Za-z]+")


def visible_width(latex: str) -> float:
    """About how many symbols wide ``latex`` is set (scripts count half)."""
    text = _FRACTION.sub(lambda m: "x" * int(max(visible_width(m.group(1)),
                                                 visible_width(m.group(2)))), latex)
    scripts = sum(len(_COMMAND.sub("x", s[1:].strip("{}"))) for s in _SCRIPT.findall(text))
    text = _SCRIPT.sub("", text)
    text = _COMMAND.sub(lambda m: "" if _STYLE.fullmatch(m.group(0)) else "x", text)
    text = _STYLE.sub("", text).replace(" ", "")
    return len(text) + scripts / 2


def broken(lhs: str, terms: list[str], width: float = WIDTH) -> Equation:
    """``lhs = t1 + t2 + ...`` on one line when it fits, else aligned lines: ``lhs &= t1 + t2``,
    ``&\\quad + t3 + ...``, each as full as the width allows."""
    if not terms:
        return Equation((f"{lhs} = 0",))
    one = f"{lhs} = {' + '.join(terms)}"
    if visible_width(one) <= width:
        return Equation((one,))
    lines, current, used = [], [], visible_width(lhs) + 2
    for term in terms:
        w = visible_width(term) + 2
        if current and used + w > width:
            lines.append(current)
            current, used = [], visible_width(lhs) + 4
        current.append(term)
        used += w
    lines.append(current)
    first = f"{lhs} &= {' + '.join(lines[0])}"
    rest = [rf"&\quad + {' + '.join(line)}" for line in lines[1:]]
    return Equation((first, *rest))
