"""The verification page: every result of a JSON report (``python -m verify check --json``), per
cell, method and checked array; each table under its own caption."""

from __future__ import annotations

from derive.pages.model import Heading, Page, Paragraph, Table
from derive.pages.prose import PROSE


def verification_page(report: dict, lang: str, source: str) -> Page:
    """The verification page: every result of a JSON report, per cell, method and array."""
    t = PROSE[lang]
    parts = [Paragraph(t["report_page_intro"].format(source=source))]
    by_cell: dict[str, list] = {}
    for r in report["results"]:
        by_cell.setdefault(r["cell"], []).append(r)
    for cell, results in by_cell.items():
        parts.append(Heading(cell))
        for r in results:
            sizes = ",".join(str(r["sizes"][k]) for k in ("T", "B", "M", "D"))
            caption = t["report_line"].format(
                method=r["method"], dtype=r["dtype"], seed=r["seed"], sizes=sizes,
                status=t["pass"] if r["passed"] else t["fail"])
            rows = tuple((c["wrt"], _figure(c["normwise_rel_err"]), _figure(c["hybrid_err"]),
                          f"{c['threshold']:g}", t["pass"] if c["passed"] else t["fail"])
                         for c in r["checks"])
            parts.append(Table((t["wrt"], t["normwise"], t["hybrid"], t["threshold"],
                                t["status"]), rows, caption=caption))
    return Page("verification", t["report_title"], lang, ("LSTM", t["verification_tag"]),
                tuple(parts))


def _figure(value) -> str:
    if value is None:
        return "-"
    return value if isinstance(value, str) else f"{value:.1e}"
