"""report.pdf (matplotlib PdfPages): cover with the cohort table, the tables, the plots.

Every page carries the data fingerprint in its footer, so a printed page says
exactly which data it came from.

Speed: text is set in the PDF's 14 standard fonts (Helvetica, Courier: metrics from
AFM files, nothing embedded), which is ~20× faster than laying out and embedding
DejaVu glyphs; text outside their cp1252 encoding is transliterated (``pdf_text``).
The plots are the PNGs already written for the run, embedded as images, so each
plot is drawn once for both artifacts.
"""

from __future__ import annotations

import json
import logging
import textwrap
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.backends.backend_pdf import PdfPages  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from PIL import Image  # noqa: E402

from analytics.render.files import atomic_path  # noqa: E402
from analytics.render.plots import DPI as PLOT_DPI  # noqa: E402

REPORT_PDF = "report.pdf"
A4_LANDSCAPE = (11.69, 8.27)
ROWS_PER_PAGE = 28
# The standard PDF fonts: no glyph layout through FreeType, no font embedding. Their AFM weight is "Medium".
CORE_FONTS = {"pdf.use14corefonts": True, "font.family": "sans-serif"}
# Characters the standard fonts' cp1252 encoding lacks, spelled in characters it has.
TRANSLITERATIONS = str.maketrans({"−": "-", "≥": ">=", "≤": "<=", "Δ": "d", "₀": "0", "≠": "!="})
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


def _weight_notice_filter(record: logging.LogRecord) -> bool:
    return not record.getMessage().startswith("findfont: Failed to find font weight")


@contextmanager
def _standard_fonts():
    """The 14 standard fonts, without matplotlib's notice that their AFM weight is "Medium", not "normal"."""
    logger = logging.getLogger("matplotlib.font_manager")
    logger.addFilter(_weight_notice_filter)
    try:
        with plt.rc_context(CORE_FONTS):
            yield
    finally:
        logger.removeFilter(_weight_notice_filter)


def pdf_text(text: str) -> str:
    """``text`` in characters the standard PDF fonts can show (others become '?')."""
    return text.translate(TRANSLITERATIONS).encode("cp1252", "replace").decode("cp1252")


def _format(value: Any) -> str:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return "–"
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) < 1000 else f"{value:.0f}"
    return str(value)


def _stamp(fig: Figure, metadata: dict[str, Any], fingerprint: str, page: int) -> None:
    fig.text(0.01, 0.01, pdf_text(f"Data fingerprint sha256:{fingerprint} · generated {metadata.get('generated_at')} · "
             f"code {metadata.get('code_version')} · page {page}"), fontsize=6, color="#555555")


def _table_page(frame: pd.DataFrame, title: str, *, top: float = 0.90) -> Figure:
    """One table as monospaced text (one text artist per page: fast, and it stays selectable text)."""
    fig = plt.figure(figsize=A4_LANDSCAPE)
    fig.suptitle(pdf_text(title), fontsize=12, x=0.02, ha="left")
    if frame.empty:
        fig.text(0.02, 0.88, "No data.", fontsize=10)
        return fig
    shown = frame.map(_format) if hasattr(frame, "map") else frame.applymap(_format)
    text = pdf_text(shown.to_string(index=False, max_colwidth=48))
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
    fig.suptitle(pdf_text("\n".join(lines)), fontsize=10, x=0.02, ha="left")
    return fig


def _image_page(png: Path) -> Figure:
    """A page showing one plot PNG at its own size, pixel for pixel (no resampling)."""
    with Image.open(png) as image:
        pixels = np.asarray(image.convert("RGB"))
    height, width = pixels.shape[:2]
    fig = plt.figure(figsize=(width / PLOT_DPI, height / PLOT_DPI), dpi=PLOT_DPI)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.imshow(pixels, interpolation="none", aspect="auto")
    ax.axis("off")
    return fig


def pdf_pages(numbers: dict[str, Any], tables: dict[str, pd.DataFrame], metadata: dict[str, Any], plots: list[Path]):
    """Yield the report's pages in page order: cover, tables, then one page per plot PNG."""
    yield _cover(numbers, tables, metadata)
    for name, title, keep in PDF_TABLES:
        frame = tables[name] if keep is None or tables[name].empty else keep(tables[name])
        for start in range(0, max(len(frame), 1), ROWS_PER_PAGE):
            suffix = f" ({start // ROWS_PER_PAGE + 1})" if len(frame) > ROWS_PER_PAGE else ""
            yield _table_page(frame.iloc[start:start + ROWS_PER_PAGE], title + suffix)
    for png in plots:
        yield _image_page(png)


def pdf_write(directory: Path, *, numbers: dict[str, Any], tables: dict[str, pd.DataFrame], plots: list[Path],
              metadata: dict[str, Any]) -> str:
    """Write report.pdf; ``plots`` (the run's PNG files) are embedded after the tables."""
    target = directory / REPORT_PDF
    with _standard_fonts(), atomic_path(target) as tmp, PdfPages(
        tmp, metadata={"Title": "Registry outcomes report", "Subject": f"data fingerprint {numbers['fingerprint']}"},
    ) as pdf:
        for page, fig in enumerate(pdf_pages(numbers, tables, metadata, plots), start=1):
            _stamp(fig, metadata, numbers["fingerprint"], page)
            pdf.savefig(fig)
            plt.close(fig)
    return target.name
