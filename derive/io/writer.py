"""Writing generated files without losing anything.

Every generated file records a hash of its own content (``gatecalc-content-sha256: ...``). Before
overwriting, the writer checks that hash: a file edited by hand no longer matches and is kept
unless ``force``. All texts are rendered before anything is written; each file is written to a
temporary file in its folder and renamed over the old one, so an interrupted run leaves every file
whole, either the old version or the new one.
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
import tempfile
from dataclasses import dataclass
from pathlib import Path

from derive.errors import GenerationError

PLACEHOLDER = "gatecalc-content-sha256: " + "0" * 64
_RECORDED = re.compile(r"gatecalc-content-sha256: ([0-9a-f]{64})")


@dataclass(frozen=True)
class Artifact:
    path: Path
    text: str


def sha256(data: str | bytes) -> str:
    """Hex SHA-256 of text as written to disk (UTF-8), or of a file's bytes."""
    return hashlib.sha256(data.encode("utf-8") if isinstance(data, str) else data).hexdigest()


def seal(text: str) -> str:
    """Fill the placeholder in ``text`` with the hash of the text that holds the placeholder."""
    if PLACEHOLDER not in text:
        return text
    return text.replace(PLACEHOLDER, f"gatecalc-content-sha256: {sha256(text)}", 1)


def edited_by_hand(text: str) -> bool:
    """True when a sealed file's content no longer matches its recorded hash."""
    match = _RECORDED.search(text)
    if match is None:
        return False
    unsealed = text[: match.start()] + PLACEHOLDER + text[match.end():]
    return sha256(unsealed) != match.group(1)


def stale(artifacts: list[Artifact]) -> list[Path]:
    """The artifacts whose file is missing or differs from what would be written."""
    return [a.path for a in artifacts if not a.path.exists() or a.path.read_text("utf-8") != a.text]


def write_all(artifacts: list[Artifact], *, force: bool = False) -> list[Path]:
    """Write the artifacts that changed; returns their paths. Refuses (writing nothing) when a
    file to be replaced was edited by hand, unless ``force``."""
    changed = stale(artifacts)
    if not force:
        edited = [p for p in changed if p.exists() and edited_by_hand(p.read_text("utf-8"))]
        if edited:
            names = ", ".join(str(p) for p in edited)
            raise GenerationError(f"edited by hand, not overwritten (use --force): {names}")
    texts = {a.path: a.text for a in artifacts}
    for path in changed:
        write_atomically(path, texts[path].encode("utf-8"))
    return changed


def write_atomically(path: Path, data: bytes) -> None:
    """Write to a temporary file in the same folder, then rename it over ``path``: an
    interruption leaves the old file or the new one, whole. The file keeps the permissions of
    the one it replaces; a new one gets what the umask allows (mkstemp alone would give 0600)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    mode = stat.S_IMODE(path.stat().st_mode) if path.exists() else 0o666 & ~_umask()
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(handle, mode)
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _umask() -> int:
    current = os.umask(0)  # the only way to read it is to set it
    os.umask(current)
    return current
