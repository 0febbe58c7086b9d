"""The page model: a page is a title and a sequence of parts, each a frozen dataclass.

Builders (``cell_page``, ``variants``, ``verify.report``) produce these; renderers
(``derive.pages.render``) print them, one class per format with one method per part type. Prose
(``Paragraph.text``, captions, table cells) may hold inline ``$math$`` (LaTeX) and ``code`` in
backticks; everything else is plain text, escaped by each renderer.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Heading:
    text: str
    level: int = 2  # 2: a section (listed in the contents), 3: a subsection


@dataclass(frozen=True)
class Paragraph:
    text: str


@dataclass(frozen=True)
class Equation:
    """One displayed equation: a single line, or several lines aligned at the ``&`` each holds
    (``a &= b + c`` / ``&\\quad + d``). Builders break long equations into lines; renderers
    never shrink one."""

    lines: tuple[str, ...]

    def __post_init__(self):
        if not self.lines:
            raise ValueError("an equation needs at least one line")
        if len(self.lines) > 1 and not all(line.count("&") == 1 for line in self.lines):
            raise ValueError(f"each line of a multi-line equation needs one '&': {self.lines}")


@dataclass(frozen=True)
class Table:
    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    caption: str = ""  # set above the table, kept with it

    def __post_init__(self):
        bad = [row for row in self.rows if len(row) != len(self.header)]
        if bad:
            raise ValueError(f"table row {bad[0]} has not {len(self.header)} cells")


@dataclass(frozen=True)
class Code:
    text: str
    language: str = "python"


@dataclass(frozen=True)
class Figure:
    """A drawing. ``name``: a file stem unique within its folder (``lstm-cell``): Markdown links
    ``name.svg``, LaTeX includes ``name.pdf``. ``svg``: the SVG document (inline in HTML), or
    None with ``missing`` saying why ("Graphviz's dot is not installed"); ``pdf``: the same
    drawing as PDF bytes for LaTeX (None: LaTeX shows the caption and that it is missing)."""

    name: str
    caption: str
    svg: str | None = None
    pdf: bytes | None = None
    missing: str = ""

    def __post_init__(self):
        if self.svg is None and not self.missing:
            raise ValueError(f"figure {self.name}: no SVG and no reason why")


Part = Heading | Paragraph | Equation | Table | Code | Figure


@dataclass(frozen=True)
class Page:
    name: str  # file stem
    title: str  # shown once, as the page's title
    lang: str  # "en" or "zh"
    tags: tuple[str, ...]
    parts: tuple[Part, ...]
    category: str = "gatecalc"

    @property
    def figures(self) -> tuple[Figure, ...]:
        return tuple(p for p in self.parts if isinstance(p, Figure))
