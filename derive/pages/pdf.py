"""LaTeX source -> PDF with XeLaTeX (Unicode and Chinese via ctex), when a TeX engine is here."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from derive.io.writer import Artifact, write_atomically

ENGINE = "xelatex"


class PdfError(Exception):
    pass


def engine_available() -> bool:
    return shutil.which(ENGINE) is not None


def build_pdfs(tex_artifacts: list[Artifact],
               attachments: dict[Path, dict[str, bytes]] | None = None) -> list[Path]:
    """Compile each .tex artifact to a .pdf beside where it goes; ``attachments``: per .tex
    path, the files it includes (figure PDFs) by name. Raises PdfError with the engine's own
    error lines when LaTeX fails."""
    written = []
    for artifact in tex_artifacts:
        with tempfile.TemporaryDirectory(prefix="gatecalc-tex-") as folder:
            source = Path(folder) / "page.tex"
            source.write_text(artifact.text, encoding="utf-8")
            for name, data in (attachments or {}).get(artifact.path, {}).items():
                (Path(folder) / name).write_bytes(data)
            for _ in range(2):  # a second pass settles the layout
                result = subprocess.run(
                    [ENGINE, "-interaction=nonstopmode", "-halt-on-error", "page.tex"],
                    cwd=folder, capture_output=True, text=True, errors="replace", timeout=300)
                if result.returncode != 0:
                    errors = [line for line in result.stdout.splitlines() if line.startswith("!")]
                    raise PdfError(f"{artifact.path}: LaTeX failed: {' | '.join(errors[:3]) or result.stdout[-500:]}")
            target = artifact.path.with_suffix(".pdf")
            write_atomically(target, (Path(folder) / "page.pdf").read_bytes())
            written.append(target)
    return written


def build_and_report(tex_artifacts: list[Artifact],
                     attachments: dict[Path, dict[str, bytes]] | None = None) -> int:
    """The command-line face of ``build_pdfs``: prints what was written, or why nothing was;
    returns the exit code (0 also when no engine is installed: the other formats stand)."""
    if not engine_available():
        print(f"warning: no TeX engine ({ENGINE}) on this machine, so no PDF was built; the "
              "other formats were written. Debian: apt-get install texlive-xetex "
              "texlive-lang-chinese texlive-latex-recommended", file=sys.stderr)
        return 0
    try:
        built = build_pdfs(tex_artifacts, attachments)
    except PdfError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except OSError as error:  # the PDF's folder cannot be written
        print(f"error: cannot write a PDF: {error.strerror or error}", file=sys.stderr)
        return 2
    for path in built:
        print(f"wrote: {path}")
    return 0
