"""Renderers: a ``Page`` -> the text of one file format. One class per format, one method per
part type (``_render_Heading``, ``_render_Equation``, ...), dispatched on the part's class."""

from __future__ import annotations

from derive.pages.model import Page
from derive.pages.render.html import HtmlRenderer
from derive.pages.render.markdown import MarkdownRenderer
from derive.pages.render.tex import TexRenderer

RENDERERS = {"md": MarkdownRenderer, "html": HtmlRenderer, "tex": TexRenderer}
FORMATS = tuple(RENDERERS)


def render(page: Page, fmt: str) -> str:
    if fmt not in RENDERERS:
        raise ValueError(f"unknown page format {fmt!r}: choose from {', '.join(FORMATS)}")
    return RENDERERS[fmt]().render(page)
