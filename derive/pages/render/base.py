"""What every renderer shares: dispatch on the part's class, and prose split into spans."""

from __future__ import annotations

import re

from derive.pages.model import Page, Part

INLINE = re.compile(r"(`[^`]*`|\$[^$]+\$)")


def spans(text: str):
    """Prose split into ("code", ...), ("math", ...) and ("text", ...) spans."""
    for part in INLINE.split(text):
        if len(part) > 1 and part[0] == part[-1] == "`":
            yield "code", part[1:-1]
        elif len(part) > 1 and part[0] == part[-1] == "$":
            yield "math", part[1:-1]
        elif part:
            yield "text", part


class Renderer:
    """Subclasses define ``document(page, body)`` and ``_render_<PartClass>(part)`` for each
    part type; a part type with no method is an error, never skipped."""

    def render(self, page: Page) -> str:
        self.page = page
        return self.document(page, [self.part(p) for p in page.parts])

    def part(self, part: Part) -> str:
        method = getattr(self, f"_render_{type(part).__name__}", None)
        if method is None:
            raise TypeError(f"{type(self).__name__} cannot render a {type(part).__name__}")
        return method(part)

    def document(self, page: Page, body: list[str]) -> str:
        raise NotImplementedError
