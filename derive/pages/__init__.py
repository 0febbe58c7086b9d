"""Derivation pages, the public face: build a ``Page`` (``cell_page``, ``comparison_page``, or
your own from the parts in ``model``), then ``render`` it to one of ``FORMATS`` and
``page_files`` to get every file it needs (the page and its figures); ``build_pdfs`` compiles
the LaTeX. ``verification_page`` shows a verification report."""

from __future__ import annotations

from pathlib import Path

from derive.io.writer import Artifact, seal
from derive.pages.cell_page import cell_page
from derive.pages.model import Code, Equation, Figure, Heading, Page, Paragraph, Part, Table
from derive.pages.render import FORMATS, render
from derive.pages.pdf import PdfError, build_and_report, build_pdfs
from derive.pages.variants import comparison_page, variants_of
from derive.pages.verification import verification_page

__all__ = ["FORMATS", "Code", "Equation", "Figure", "Heading", "Page", "Paragraph", "Part",
           "PdfError", "Table", "build_and_report", "build_pdfs", "cell_page", "comparison_page",
           "page_files", "pdf_attachments", "render", "variants_of", "verification_page"]


def page_files(page: Page, folder: Path, formats=FORMATS) -> list[Artifact]:
    """``folder/<page.name>.<fmt>`` for each format, and each figure's SVG beside it (the
    Markdown links it)."""
    files = [Artifact(folder / f"{page.name}.{fmt}", seal(render(page, fmt))) for fmt in formats]
    if "md" in formats:
        files += [Artifact(folder / f"{f.name}.svg", f.svg) for f in page.figures
                  if f.svg is not None]
    return files


def pdf_attachments(page: Page) -> dict[str, bytes]:
    """The files LaTeX includes (figure PDFs), by file name, for building the page's PDF."""
    return {f"{f.name}.pdf": f.pdf for f in page.figures if f.pdf is not None}
