"""Line layout for generated modules: no line longer than WIDTH where a break is possible.

Three deterministic rules, applied to lines that are too long:
- a comment is wrapped at spaces, continued with ``#   ``;
- ``name = a + b - c`` (or ``name[i, j] = ...``, ``+=``) is wrapped at the top-level ``+``/``-``
  of the right-hand side, or at its top-level ``*`` when it has no sum, inside parentheses,
  continuation lines aligned under the first term;
- anything else with a bracket is wrapped after the top-level commas of its first bracket.
The code's meaning never changes: only white space and a pair of grouping parentheses are added.
"""

from __future__ import annotations

import textwrap

WIDTH = 100
OPEN, CLOSE = "([{", ")]}"


def wrap_long_lines(text: str, width: int = WIDTH) -> str:
    out = []
    for line in text.split("\n"):
        out.extend(_wrap(line, width) if len(line) > width else [line])
    return "\n".join(out)


def _wrap(line: str, width: int) -> list[str]:
    indent = line[: len(line) - len(line.lstrip())]
    body = line.strip()
    if body.startswith("#"):
        return textwrap.wrap(body[1:].strip(), width, initial_indent=f"{indent}# ",
                             subsequent_indent=f"{indent}#   ", break_on_hyphens=False,
                             break_long_words=False)
    if body.startswith(("source:", "spec sha256:")):  # the module docstring's header
        return textwrap.wrap(body, width, initial_indent=indent, subsequent_indent=indent + "    ",
                             break_on_hyphens=False, break_long_words=False)
    target, sep, rhs = body.partition(" += " if " += " in body else " = ")
    if sep and _is_target(target):
        terms = _split_top(rhs, ("+", "-"))
        joiner = " "
        if len(terms) == 1:
            terms, joiner = _split_top(rhs, ("*",)), ""
        if len(terms) > 1:
            head = f"{indent}{target}{sep}("
            return _pack(head, terms, width, joiner=joiner, closer=")")
    start = next((k for k, ch in enumerate(body) if ch in OPEN), -1)
    if start >= 0:
        end = _matching(body, start)
        items = _split_top(body[start + 1: end], (",",))
        if end > 0 and len(items) > 1:
            head = f"{indent}{body[: start + 1]}"
            return _pack(head, items, width, joiner=" ", closer=body[end:])
    return [line]


def _is_target(text: str) -> bool:
    """A name, or a name with one subscript (``c[_i, _j]``)."""
    name, bracket, rest = text.partition("[")
    return name.isidentifier() and (not bracket or (rest.endswith("]") and "[" not in rest))


def _split_top(text: str, operators: tuple[str, ...]) -> list[str]:
    """Pieces of ``text`` at depth-0 operators (binary +/- need spaces around them, ``*`` is a
    product, not a power; commas stay at the end of their piece)."""
    pieces, depth, current, k = [], 0, "", 0
    quote = None
    while k < len(text):
        ch = text[k]
        if quote:
            quote = None if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch in OPEN:
            depth += 1
        elif ch in CLOSE:
            depth -= 1
        elif depth == 0 and "," in operators and ch == ",":
            pieces.append(current + ",")
            current, k = "", k + 1
            while k < len(text) and text[k] == " ":
                k += 1
            continue
        elif (depth == 0 and ch == "*" and "*" in operators and "*" not in text[k - 1: k + 2:2]
              and current):
            pieces.append(current)
            current, k = ch, k + 1
            continue
        elif (depth == 0 and ch in operators and text[k - 1: k] == " "
              and text[k + 1: k + 2] == " "):
            pieces.append(current.rstrip())
            current, k = ch + " ", k + 2
            continue
        current += ch
        k += 1
    if current.strip():
        pieces.append(current)
    return [p for p in pieces if p.strip()]


def _matching(text: str, start: int) -> int:
    depth = 0
    for k in range(start, len(text)):
        if text[k] in OPEN:
            depth += 1
        elif text[k] in CLOSE:
            depth -= 1
            if depth == 0:
                return k
    return -1


def _pack(head: str, pieces: list[str], width: int, joiner: str, closer: str) -> list[str]:
    """Greedy: as many pieces a line as fit, continuation aligned after ``head``."""
    pad = " " * len(head)
    lines, current = [], head
    for k, piece in enumerate(pieces):
        tail = closer if k == len(pieces) - 1 else ""
        candidate = piece if current in (head, pad) else f"{joiner}{piece}"
        if len(current + candidate + tail) > width and current not in (head, pad):
            lines.append(current.rstrip())
            current = pad + piece
        else:
            current += candidate
    lines.append(current + closer)
    return lines
