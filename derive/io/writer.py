"""Writing generated files without losing anything.

Every generated file records a hash of its own content (``gatecalc-content-sha256: ...``). Before
overwriting, the writer checks that hash: only a file whose seal verifies is replaced silently; a
file edited by hand (the hash no longer matches, or the line is gone) or one gatecalc never wrote
is kept unless ``force``. All texts are rendered before anything is written; each file is written
to a temporary file in its folder (``.NAME.gatecalc-PID-XXXXXXXX.tmp``) and renamed over the old
one, so an interrupted run leaves every file whole, either the old version or the new one. A
temporary file that a killed run left behind is removed, and reported, by the next write of the
same file.
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from derive.errors import GenerationError, PathError

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


def seal_verifies(text: str) -> bool:
    """True when ``text`` carries a gatecalc seal and its content still matches it."""
    return _RECORDED.search(text) is not None and not edited_by_hand(text)


def stale(artifacts: list[Artifact]) -> list[Path]:
    """The artifacts whose file is missing or differs from what would be written."""
    return [a.path for a in artifacts if not a.path.is_file() or _read(a.path) != a.text]


def write_all(artifacts: list[Artifact], *, force: bool = False, notice=None) -> list[Path]:
    """Write the artifacts that changed; returns their paths. Refuses (writing nothing) when a
    file to be replaced is not a gatecalc file whose seal verifies, unless ``force``; refuses
    a path that is not a regular file (a folder, a device) always. ``notice(message)`` hears of
    stale temporary files removed (default: printed to stderr)."""
    for artifact in artifacts:
        _check_writable(artifact.path)
    changed = stale(artifacts)
    if not force:
        kept = [p for p in changed if p.exists() and not seal_verifies(_read(p))]
        if kept:
            names = ", ".join(str(p) for p in kept)
            raise GenerationError(f"not overwritten: {names}: edited by hand or not written by "
                                  "gatecalc (no valid gatecalc-content-sha256 seal); use --force "
                                  "to replace")
    for leftover in remove_stale_temporaries([a.path for a in artifacts]):
        (notice or _stderr)(f"removed a temporary file an interrupted run left: {leftover}")
    texts = {a.path: a.text for a in artifacts}
    for path in changed:
        try:
            write_atomically(path, texts[path].encode("utf-8"))
        except OSError as exc:
            raise PathError(f"cannot write {path}: {exc.strerror or exc}") from None
    return changed


def _read(path: Path) -> str:
    try:
        return path.read_text("utf-8")
    except UnicodeDecodeError:
        return ""  # not text gatecalc wrote: never matches, never has a valid seal
    except OSError as exc:
        raise PathError(f"cannot read {path}: {exc.strerror or exc}") from None


def _check_writable(path: Path) -> None:
    """A clear error for a target that can never be a file: a folder, a device, a path through
    a file."""
    if path.exists() and not path.is_file():
        raise PathError(f"cannot write {path}: it exists and is not a regular file")
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                raise PathError(f"cannot write {path}: {parent} is not a folder")
            break


def _temporary_prefix(path: Path) -> str:
    return f".{path.name}.gatecalc-"


def remove_stale_temporaries(paths: list[Path]) -> list[Path]:
    """Remove the temporary files of ``paths`` that a killed run left in their folders: ours
    carry the writing process's id, and are stale when that process is gone (those of versions
    before the id was recorded, ``.NAME.XXXXXXXX.tmp``, always are). Returns what was removed."""
    by_folder: dict[Path, set[str]] = {}
    for path in paths:
        by_folder.setdefault(path.parent, set()).add(path.name)
    ours = re.compile(r"\.(.+)\.gatecalc-(\d+)-[a-z0-9_]{8}\.tmp\Z")
    older = re.compile(r"\.(.+)\.[a-z0-9_]{8}\.tmp\Z")
    removed = []
    for folder, names in by_folder.items():
        if not folder.is_dir():
            continue
        for candidate in sorted(folder.iterdir()):
            match = ours.match(candidate.name)
            stale = match is not None and match.group(1) in names and not _alive(int(match.group(2)))
            old = older.match(candidate.name)
            if stale or (match is None and old is not None and old.group(1) in names):
                candidate.unlink(missing_ok=True)
                removed.append(candidate)
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # exists, owned by someone else
    return True


def write_atomically(path: Path, data: bytes) -> None:
    """Write to a temporary file in the same folder, then rename it over ``path``: an
    interruption leaves the old file or the new one, whole. The file keeps the permissions of
    the one it replaces; a new one gets what the umask allows (mkstemp alone would give 0600)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    mode = stat.S_IMODE(path.stat().st_mode) if path.exists() else 0o666 & ~_umask()
    handle, temporary = tempfile.mkstemp(dir=path.parent, suffix=".tmp",
                                         prefix=f"{_temporary_prefix(path)}{os.getpid()}-")
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


def _stderr(message: str) -> None:
    print(message, file=sys.stderr)


def _umask() -> int:
    current = os.umask(0)  # the only way to read it is to set it
    os.umask(current)
    return current
