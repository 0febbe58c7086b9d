"""LaTeX (the subset our printers emit) -> presentation MathML, for HTML that renders offline.

Browsers render MathML natively, so a page needs no script and no network. The input is only
ever LaTeX that ``latex.py`` and ``docs.py`` produced, so the grammar is small; anything outside
it raises ``ValueError`` rather than rendering something wrong.
"""

from __future__ import annotations

import re
from html import escape

SYMBOLS = {  # command -> (MathML element, text)
    "sigma": ("mi", "σ"), "delta": ("mi", "δ"), "partial": ("mo", "∂"), "odot": ("mo", "⊙"),
    "times": ("mo", "×"), "in": ("mo", "∈"), "cdot": ("mo", "·"), "top": ("mi", "⊤"),
    "sum": ("mo", "∑"), "leftarrow": ("mo", "←"), "to": ("mo", "→"), "quad": ("mspace", ""),
    "tanh": ("mi", "tanh"), "exp": ("mi", "exp"), "log": ("mi", "log"), "prime": ("mo", "′"),
    "colon": ("mo", ":"), "ldots": ("mo", "…"), "approx": ("mo", "≈"), "neq": ("mo", "≠"),
}
ACCENTS = {"tilde": "~", "hat": "^", "bar": "¯"}
NBSP = "\u00a0"
SPACES = {",": "0.167em", ";": "0.278em", " ": "0.333em", "!": "0em"}
DOUBLE_STRUCK = {"R": "ℝ", "N": "ℕ", "Z": "ℤ", "Q": "ℚ", "C": "ℂ"}
TOKEN = re.compile(r"\\[A-Za-z]+|\\\\|\\[,;! ]|[0-9]+(?:\.[0-9]+)?|\s+|.", re.S)


def to_mathml(latex: str, display: bool = True, displaystyle: bool | None = None) -> str:
    """``display``: a block of its own, else inline; ``displaystyle``: full-size fractions and
    limits (default: as ``display``), e.g. for one side of an aligned line set inline."""
    tokens = TOKEN.findall(latex)
    parser = _Parser(tokens)
    body = parser.sequence(stop=None)
    if parser.peek() is not None:
        raise ValueError(f"unbalanced LaTeX: {latex!r}")
    mode = "block" if display else "inline"
    style = "" if displaystyle is None or displaystyle == display else \
        f' displaystyle="{str(displaystyle).lower()}"'
    return (f'<math xmlns="http://www.w3.org/1998/Math/MathML" display="{mode}"{style}>'
            f"<mrow>{body}</mrow></math>")


class _Parser:
    def __init__(self, tokens: list[str]):
        self.tokens = tokens
        self.position = 0

    def peek(self) -> str | None:
        """The next token, skipping white space (which matters only inside \\text)."""
        while self.position < len(self.tokens) and self.tokens[self.position].isspace():
            self.position += 1
        return self.tokens[self.position] if self.position < len(self.tokens) else None

    def take(self) -> str:
        token = self.peek()
        if token is None:
            raise ValueError("unexpected end of LaTeX")
        self.position += 1
        return token

    def expect(self, token: str) -> None:
        got = self.take()
        if got != token:
            raise ValueError(f"expected {token!r}, got {got!r}")

    def sequence(self, stop) -> str:
        out = []
        while self.peek() is not None and self.peek() not in (stop or ()):
            out.append(self.scripted())
        return "".join(out)

    def group(self) -> str:
        """A braced group as one mrow, or a single atom."""
        if self.peek() == "{":
            self.take()
            inner = self.sequence(stop=("}",))
            self.expect("}")
            return f"<mrow>{inner}</mrow>"
        return self.atom()

    def raw_group(self) -> str:
        self.expect("{")
        text = []
        while self.position < len(self.tokens) and self.tokens[self.position] != "}":
            text.append(self.tokens[self.position])
            self.position += 1
        self.expect("}")
        return "".join(text)

    def scripted(self) -> str:
        base = self.atom()
        sub = sup = None
        while self.peek() in ("_", "^"):
            if self.take() == "_":
                sub = self.group()
            else:
                sup = self.group()
        if base.startswith("<mo>∑"):
            if sub and sup:
                return f"<munderover>{base}{sub}{sup}</munderover>"
            if sub:
                return f"<munder>{base}{sub}</munder>"
        if sub and sup:
            return f"<msubsup>{base}{sub}{sup}</msubsup>"
        if sub:
            return f"<msub>{base}{sub}</msub>"
        if sup:
            return f"<msup>{base}{sup}</msup>"
        return base

    def atom(self) -> str:
        token = self.take()
        if token == "{":
            inner = self.sequence(stop=("}",))
            self.expect("}")
            return f"<mrow>{inner}</mrow>"
        if token.startswith("\\") and token != "\\\\":
            return self.command(token[1:])
        if re.fullmatch(r"[0-9]+(\.[0-9]+)?", token):
            return f"<mn>{token}</mn>"
        if re.fullmatch(r"[A-Za-z]", token):
            return f"<mi>{token}</mi>"
        if token in "()[]|":  # a bracket as typed: normal size (see ``fenced``)
            return f'<mo stretchy="false">{escape(token)}</mo>'
        if token == "/":  # a solidus, as LaTeX sets it: no space either side
            return '<mo lspace="0" rspace="0" stretchy="false">/</mo>'
        if token in "+-=,<>:;!'":
            text = {"-": "−", "'": "′"}.get(token, token)
            return f"<mo>{escape(text)}</mo>"
        raise ValueError(f"unexpected LaTeX token {token!r}")

    def command(self, name: str) -> str:
        if name in SPACES:  # LaTeX's thin, thick and negative thin spaces (3, 5, -3 mu)
            return f'<mspace width="{SPACES[name]}"/>'
        if name == "left":
            return self.fenced()
        if name == "right":
            raise ValueError("\\right without \\left")
        if name == "frac":
            return f"<mfrac>{self.group()}{self.group()}</mfrac>"
        if name in ACCENTS:
            return f'<mover accent="true">{self.group()}<mo>{ACCENTS[name]}</mo></mover>'
        if name in ("mathit", "mathrm", "operatorname"):
            variant = "italic" if name == "mathit" else "normal"
            return f'<mi mathvariant="{variant}">{escape(self.raw_group())}</mi>'
        if name == "text":  # MathML trims an mtext's edges: keep its spaces as no-break spaces
            words = self.raw_group()
            stripped = words.strip(" ")
            left, right = len(words) - len(words.lstrip(" ")), len(words) - len(words.rstrip(" "))
            return f"<mtext>{NBSP * left}{escape(stripped)}{NBSP * right}</mtext>"
        if name == "mathbb":  # MathML Core renders the Unicode letters, not mathvariant
            letters = self.raw_group()
            return f"<mi>{''.join(DOUBLE_STRUCK.get(ch, ch) for ch in letters)}</mi>"
        if name == "begin":
            return self.matrix(self.raw_group())
        if name == "quad":
            return '<mspace width="1em"/>'
        if name in SYMBOLS:
            element, text = SYMBOLS[name]
            return f"<{element}>{text}</{element}>"
        raise ValueError(f"no MathML for LaTeX command \\{name}")

    def fenced(self) -> str:
        """``\\left( ... \\right)`` as one mrow, so a script after it applies to the whole
        group; the fences sit tight against what they enclose."""
        left = self.take()
        inner = self.sequence(stop=("\\right",))
        self.expect("\\right")
        right = self.take()

        # Chromium sets a stretchy fence with wide side bearings even at normal size: stretch
        # only around something tall (a fraction, a matrix, a big operator)
        tall = "true" if re.search(r"<(mfrac|mtable|munderover|munder)\b", inner) else "false"

        def fence(text: str, form: str) -> str:
            if text == ".":
                return ""
            return (f'<mo fence="true" form="{form}" stretchy="{tall}" lspace="0" rspace="0">'
                    f"{escape(text)}</mo>")
        return f"<mrow>{fence(left, 'prefix')}{inner}{fence(right, 'postfix')}</mrow>"

    def matrix(self, environment: str) -> str:
        fences = {"bmatrix": ("[", "]"), "pmatrix": ("(", ")"), "matrix": ("", "")}
        if environment not in fences:
            raise ValueError(f"no MathML for environment {environment}")
        rows, cells, cell = [], [], []
        while True:
            token = self.peek()
            if token == "\\end":
                self.take()
                self.raw_group()
                break
            if token in ("&", "\\\\"):
                self.take()
                cells.append("".join(cell))
                cell = []
                if token == "\\\\":
                    rows.append(cells)
                    cells = []
                continue
            cell.append(self.scripted())
        cells.append("".join(cell))
        rows.append(cells)
        table = "".join("<mtr>" + "".join(f"<mtd>{c}</mtd>" for c in row) + "</mtr>"
                        for row in rows)
        left, right = fences[environment]
        return (f"<mrow><mo>{left}</mo><mtable>{table}</mtable><mo>{right}</mo></mrow>")
