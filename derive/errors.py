"""Errors a user sees: a message with a location, never a traceback."""

from __future__ import annotations

import re
import sys
import traceback
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


class PathError(GenerationError):
    """A path given on the command line that cannot be read or written: bad input (exit 2)."""


class UsageError(Exception):
    """A bad command-line argument (exit 2)."""


BUG = ("error: this is a bug in gatecalc, not in your input: please report it on the gatecalc "
       "issue tracker with the traceback above, the command line and the spec file")


def run_command(command, args) -> int:
    """Run one command-line command; every failure becomes one error line and an exit code:
    2 bad input (spec, argument, path), 1 a refusal or a failed check, 3 a bug in gatecalc
    (the only case with a traceback, and a line saying so)."""
    try:
        return command(args)
    except SpecError as error:
        print(error.render(), file=sys.stderr)
        return 2
    except (UsageError, PathError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except GenerationError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception:  # noqa: BLE001 - anything else is gatecalc's own fault
        traceback.print_exc()
        print(BUG, file=sys.stderr)
        return 3


class SpecText:
    """The spec's text, to turn a field or an equation into a file location."""

    def __init__(self, path: str, text: str):
        self.path = path
        self.lines = text.splitlines()

    def at(self, line: int, column: int) -> Location:
        source_line = self.lines[line - 1] if 0 < line <= len(self.lines) else ""
        return Location(self.path, line, column, source_line)

    def find(self, pattern: str, start: int = 0) -> Location:
        """Location of the first line (from line index ``start``) matching a regex."""
        rx = re.compile(pattern)
        for index in range(start, len(self.lines)):
            match = rx.search(self.lines[index])
            if match:
                return self.at(index + 1, match.start() + 1)
        return self.at(1, 1)

    def field(self, key: str, inner: str | None = None) -> Location:
        """Location of ``key = ...`` (or of ``inner`` inside that field's value)."""
        key_loc = self.find(rf"^\s*(\[\s*{re.escape(key)}\s*\]|{re.escape(key)}\s*=)")
        if inner is None:
            return key_loc
        return self.find(rf"(?<![A-Za-z0-9_]){re.escape(inner)}(?![A-Za-z0-9_])", key_loc.line - 1)

    def equation_start(self) -> int:
        """0-based index of the line holding the first character of the equations string."""
        for index, line in enumerate(self.lines):
            match = re.match(r'\s*equations\s*=\s*("""|\'\'\')(.*)$', line)
            if match:
                return index + (0 if match.group(2).strip() else 1)
        return 0
