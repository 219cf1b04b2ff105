"""report.pdf (matplotlib PdfPages): cover with the cohort table, the tables, the plots.

Every page carries the data fingerprint in its footer, so a printed page says
exactly which data it came from.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.backends.backend_pdf import PdfPages  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from analytics.render.files import atomic_path  # noqa: E402

REPORT_PDF = "report.pdf"
A4_LANDSCAPE = (11.69, 8.27)
ROWS_PER_PAGE = 28
# Tables shown in the PDF: (sheet, title, row filter). The XLSX has every row.
PDF_TABLES = (
    ("pain_response", "Pain response by visit (counts; rates among evaluable and ITT)", None),
    ("survival_at_days", "SRE cumulative incidence and overall survival at 30/90/180/365 days", None),
    ("pain", "Worst pain by visit, whole cohort", lambda f: f[(f["variable"] == "worst") & (f["stratum"] == "all")]),
    ("omed", "OMED by visit, whole cohort", lambda f: f[f["stratum"] == "all"]),
    ("complications", "Complications, whole cohort", lambda f: f[f["stratum"] == "all"]),
    ("logrank", "Log-rank tests between strata", None),
    ("cox", "Cox proportional-hazards models (cause-specific for SRE; Efron ties)", None),
)


def _format(value: Any) -> str:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return "–"
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) < 1000 else f"{value:.0f}"
    return str(value)


def _stamp(fig: Figure, metadata: dict[str, Any], fingerprint: str, page: int) -> None:
    fig.text(0.01, 0.01, f"Data fingerprint sha256:{fingerprint} · generated {metadata.get('generated_at')} · "
             f"code {metadata.get('code_version')} · page {page}", fontsize=6, color="#555555")


def _table_page(frame: pd.DataFrame, title: str, *, top: float = 0.90) -> Figure:
    """One table as monospaced text (one text artist per page: fast, and it stays selectable text)."""
    fig = plt.figure(figsize=A4_LANDSCAPE)
    fig.suptitle(title, fontsize=12, x=0.02, ha="left")
    if frame.empty:
        fig.text(0.02, 0.88, "No data.", fontsize=10)
        return fig
    shown = frame.map(_format) if hasattr(frame, "map") else frame.applymap(_format)
    text = shown.to_string(index=False, max_colwidth=48)
    width = max(len(line) for line in text.splitlines())
    fig.text(0.02, top, text, family="monospace", fontsize=min(8.0, 1150 / max(width, 1)), va="top", ha="left")
    return fig


def _cover(numbers: dict[str, Any], tables: dict[str, pd.DataFrame], metadata: dict[str, Any]) -> Figure:
    fig = _table_page(tables["cohort"], "", top=0.84)
    lines = [
        "Bone metastasis ablation registry — outcomes report. Table 1: baseline characteristics by modality",
        f"Patients analysed: {numbers['n_patients']} · data cut-off {numbers.get('data_cutoff')}",
        *textwrap.wrap(f"Parameters: {json.dumps(numbers['parameters'], sort_keys=True)}", 150),
    ]
    fig.suptitle("\n".join(lines), fontsize=10, x=0.02, ha="left")
    return fig


def pdf_pages(numbers: dict[str, Any], tables: dict[str, pd.DataFrame], metadata: dict[str, Any], figures: dict[str, Figure]):
    """Yield the report's figures in page order."""
    yield _cover(numbers, tables, metadata)
    for name, title, keep in PDF_TABLES:
        frame = tables[name] if keep is None or tables[name].empty else keep(tables[name])
        for start in range(0, max(len(frame), 1), ROWS_PER_PAGE):
            suffix = f" ({start // ROWS_PER_PAGE + 1})" if len(frame) > ROWS_PER_PAGE else ""
            yield _table_page(frame.iloc[start:start + ROWS_PER_PAGE], title + suffix)
    yield from figures.values()


def pdf_write(directory: Path, *, numbers: dict[str, Any], tables: dict[str, pd.DataFrame], figures: dict[str, Figure],
              metadata: dict[str, Any]) -> str:
    """Write report.pdf; ``figures`` (the plots) are drawn as vector graphics after the tables, and closed."""
    target = directory / REPORT_PDF
    with atomic_path(target) as tmp, PdfPages(tmp, metadata={"Title": "Registry outcomes report",
                                                              "Subject": f"data fingerprint {numbers['fingerprint']}"}) as pdf:
        for page, fig in enumerate(pdf_pages(numbers, tables, metadata, figures), start=1):
            _stamp(fig, metadata, numbers["fingerprint"], page)
            pdf.savefig(fig)
            plt.close(fig)
    return target.name
