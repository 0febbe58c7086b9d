"""Errors a user sees: a message with a location, never a traceback."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Location:
    path: str
    line: int  # 1-based
    column: int  # 1-based
    source_line: str = ""  # the text of that line, for the caret display

    def __str__(self) -> str:
        return f"{self.path}:{self.line}:{self.column}"


class SpecError(Exception):
    """A problem in a cell spec, reported as ``file:line:col: error: message``."""

    def __init__(self, message: str, location: Location):
        super().__init__(message)
        self.message = message
        self.location = location

    def __str__(self) -> str:
        return f"{self.location}: error: {self.message}"

    def render(self) -> str:
        """The one-line error, then the offending line and a caret under the column."""
        text = str(self)
        if self.location.source_line:
            src = self.location.source_line.rstrip("\n")
            text += f"\n    {src}\n    {' ' * (self.location.column - 1)}^"
        return text


class GenerationError(Exception):
    """A problem while writing generated files (e.g. a hand-edited file in the way)."""
