"""report.pdf (matplotlib PdfPages): a cover with the parameters and contents, then one section per
topic (Table 1, patient flow, pain, opioid use, pain response, complications, SREs, overall survival,
exploratory analyses), each with its tables (``report_tables``, ``exploratory``) and then its plots.

Every page carries the data fingerprint in its footer, so a printed page says
exactly which data it came from.

Speed: text is set in the PDF's 14 standard fonts (Helvetica, Courier: metrics from
AFM files, nothing embedded), which is ~20× faster than laying out and embedding
DejaVu glyphs; text outside their cp1252 encoding is transliterated (``pdf_text``).
The plots are the PNGs already written for the run, embedded as images, so each
plot is drawn once for both artifacts — and compressed once: their PNG data is copied into the PDF
(analytics.render.png_embed).
"""

from __future__ import annotations

import functools
import logging
import textwrap
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.transforms import Bbox  # noqa: E402

from analytics.render.afm_metrics import afm_string_metrics  # noqa: E402
from analytics.render.exploratory import EXPLORATORY, exploratory_tables  # noqa: E402
from analytics.render.exploratory import FIGURES as EXPLORATORY_FIGURES  # noqa: E402
from analytics.render.files import atomic_path  # noqa: E402
from analytics.render.flow_diagram import flow_diagram_page  # noqa: E402
from analytics.render.labels import MISSING, variable_label, visit_label  # noqa: E402
from analytics.render.local_control_report import LTP_PLOT, local_control_tables  # noqa: E402
from analytics.render.local_control_report import SECTION as LOCAL_CONTROL_SECTION  # noqa: E402
from analytics.render.plots import DPI as PLOT_DPI  # noqa: E402
from analytics.render.png_embed import EmbeddingPdfPages, PlotPng, png_imshow  # noqa: E402
from analytics.render.report_tables import DisplayTable, cohort_tables, report_tables  # noqa: E402

REPORT_PDF = "report.pdf"
A4_LANDSCAPE = (11.69, 8.27)
ROWS_PER_PAGE = 30
LINE_SPACING = 1.35
LINE_HEIGHT = 1.19  # a text line's height in font sizes at LINE_SPACING (matplotlib's, measured on the rendered page)
TABLE_AREA = 0.88  # page fraction available to tables between the section line and the footer
# The standard PDF fonts: no glyph layout through FreeType, no font embedding. Their AFM weight is "Medium".
CORE_FONTS = {"pdf.use14corefonts": True, "font.family": "sans-serif"}
# Characters the standard fonts' cp1252 encoding lacks, spelled in characters it has.
TRANSLITERATIONS = str.maketrans({"−": "-", "≥": ">=", "≤": "<=", "Δ": "d", "₀": "0", "≠": "!="})
# Report sections in page order, with the plot files (by name prefix, or a tuple of prefixes) shown after their tables.
SECTION_PLOTS: dict[str, str | tuple[str, ...] | None] = {
    "Table 1": None,
    "Patient flow": None,
    "Pain": "pain_trajectory",
    "Opioid use": "omed_trajectory",
    "Pain response": "response_bars",
    "Patient-reported outcomes": None,
    "Complications": None,
    "Skeletal-related events": "sre_cumulative_incidence",
    "Overall survival": "overall_survival",
    LOCAL_CONTROL_SECTION: LTP_PLOT,  # issue 10 part B
    # issue 16: mixed model / funnel plots, then the propensity-weighted comparisons (propensity_love_by_<contrast>)
    EXPLORATORY: (*(name.removesuffix(".png") for name in EXPLORATORY_FIGURES), "propensity_love"),
}
FOOTER_HEIGHT = 0.035  # fraction of the page kept free for the footer


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


def _stamp(fig: Figure, metadata: dict[str, Any], fingerprint: str, page: int, total: int) -> None:
    fig.text(
        0.01,
        0.008,
        pdf_text(
            f"Data fingerprint sha256:{fingerprint} · generated {metadata.get('generated_at')} · "
            f"code {metadata.get('code_version')} · page {page} of {total}"
        ),
        fontsize=6,
        color="#555555",
    )


def _page(title: str, section: str) -> Figure:
    fig = plt.figure(figsize=A4_LANDSCAPE)
    fig.text(0.02, 0.965, pdf_text(section.upper()), fontsize=7, color="#777777", va="top")
    fig.text(0.02, 0.945, pdf_text(title), fontsize=12, va="top", weight="bold")
    return fig


def _font_size(text: str) -> float:
    return min(9.0, 1180 / max(max(len(line) for line in text.splitlines()), 1))


def _block_height(block: TableBlock) -> float:
    """Height of a table block in page fractions (title, table lines, note, gap)."""
    lines = block.text.count("\n") + 1
    note_lines = len(block.note_lines)
    return (18 + lines * block.font * LINE_HEIGHT + note_lines * 8 * LINE_HEIGHT + 16) / 72 / A4_LANDSCAPE[1]


@dataclass(frozen=True)
class TableBlock:
    """One table (or one part of a long one) laid out as text, ready to place on a page."""

    section: str
    title: str
    text: str
    font: float
    note_lines: tuple[str, ...]


def _blocks(table: DisplayTable) -> list[TableBlock]:
    """A table as one block per ROWS_PER_PAGE rows (long tables continue on the next pages)."""
    frame = table.frame
    parts = max(1, -(-len(frame) // ROWS_PER_PAGE))
    blocks = []
    for index in range(parts):
        part = frame.iloc[index * ROWS_PER_PAGE : (index + 1) * ROWS_PER_PAGE]
        text = pdf_text(text_table(part)) if not part.empty else "No data."
        suffix = f" (part {index + 1} of {parts})" if parts > 1 else ""
        note = tuple(textwrap.wrap(pdf_text(table.note), 190)) if table.note and index == parts - 1 else ()
        blocks.append(TableBlock(table.section, pdf_text(table.title + suffix), text, _font_size(text), note))
    return blocks


def _pack(blocks: list[TableBlock]) -> list[list[TableBlock]]:
    """Consecutive blocks of one section share a page while they fit."""
    pages: list[list[TableBlock]] = []
    used = 0.0
    for block in blocks:
        height = _block_height(block)
        if pages and pages[-1][0].section == block.section and used + height <= TABLE_AREA:
            pages[-1].append(block)
            used += height
        else:
            pages.append([block])
            used = height
    return pages


def _tables_page(blocks: list[TableBlock]) -> Figure:
    """Tables as monospaced text, one text artist per table (fast, and it stays selectable text)."""
    fig = plt.figure(figsize=A4_LANDSCAPE)
    fig.text(0.02, 0.965, pdf_text(blocks[0].section.upper()), fontsize=7, color="#777777", va="top")
    top = 0.945
    for block in blocks:
        fig.text(0.02, top, block.title, fontsize=11, va="top", weight="bold")
        fig.text(
            0.02,
            top - 16 / 72 / A4_LANDSCAPE[1],
            block.text,
            family="monospace",
            fontsize=block.font,
            va="top",
            ha="left",
            linespacing=LINE_SPACING,
        )
        if block.note_lines:
            lines = block.text.count("\n") + 1
            y = top - (22 + lines * block.font * LINE_HEIGHT) / 72 / A4_LANDSCAPE[1]
            fig.text(0.02, y, "\n".join(block.note_lines), fontsize=8, color="#333333", va="top")
        top -= _block_height(block)
    return fig


def text_table(frame: pd.DataFrame, gutter: int = 3) -> str:
    """A frame as aligned monospaced text: header, rule, rows (first column left-aligned, the others
    right-aligned, so numbers line up); a blank line between groups of a "Variable: level" first column."""
    cells = frame.astype(object).where(frame.notna(), MISSING).astype(str)
    headers = [str(c) for c in frame.columns]
    widths = [max([len(h)] + [len(v) for v in cells[c]]) for h, c in zip(headers, frame.columns, strict=True)]

    def line(values: list[str]) -> str:
        first = values[0].ljust(widths[0])
        rest = [v.rjust(w) for v, w in zip(values[1:], widths[1:], strict=True)]
        return (" " * gutter).join([first, *rest]).rstrip()

    lines = [line(headers), "-" * (sum(widths) + gutter * (len(widths) - 1))]
    previous = None
    for values in cells.itertuples(index=False, name=None):  # plain tuples: no namedtuple class per table
        group = values[0].partition(": ")[0] if ": " in values[0] else None
        if previous is not None and group != previous:
            lines.append("")
        previous = group
        lines.append(line(list(values)))
    return "\n".join(lines)


def parameter_summary(parameters: dict[str, Any]) -> list[str]:
    """The run's parameters in words."""
    strata = ", ".join(variable_label(v) for v in parameters.get("strata", [])) or "none (all patients only)"
    visits = ", ".join(visit_label(v) for v in parameters.get("visits", []))
    hypercalcaemia = "yes" if parameters.get("include_hypercalcaemia") else "no (the registry default)"
    return [f"Results by: {strata}.", f"Follow-up visits: {visits}.", f"Hypercalcaemia counted as an SRE: {hypercalcaemia}."]


def _cover(numbers: dict[str, Any], metadata: dict[str, Any], contents: list[tuple[str, int, int]]) -> Figure:
    fig = plt.figure(figsize=A4_LANDSCAPE)
    fig.text(0.05, 0.9, "Bone metastasis ablation registry: outcomes report", fontsize=18, weight="bold", va="top")
    lines = [
        f"Patients analysed: {numbers['n_patients']} treated patients · data cut-off {numbers.get('data_cutoff') or '–'} · "
        f"report generated {metadata.get('generated_at')}",
        *parameter_summary(numbers["parameters"]),
        "",
        "Confidence intervals are 95%: Wilson score for response, improvement and opioid-free rates; exact "
        "(Clopper–Pearson) for complications and technical success;",
        "t distribution for means; log-log for Kaplan–Meier and Aalen–Johansen curves. Opioid doses in oral morphine "
        "milligram equivalents per day (MME/day).",
    ]
    fig.text(0.05, 0.82, pdf_text("\n".join(lines)), fontsize=10, va="top", linespacing=1.6)
    fig.text(0.05, 0.52, "Contents", fontsize=13, weight="bold", va="top")
    rows = [
        f"{section:<28}{'page' if first == last else 'pages'} {first}{'' if first == last else f'–{last}'}"
        for section, first, last in contents
    ]
    fig.text(0.05, 0.48, pdf_text("\n".join(rows)), family="monospace", fontsize=10, va="top", linespacing=1.5)
    return fig


def _image_box(width: int, height: int) -> tuple[float, float, float, float]:
    """Where a picture of ``width`` × ``height`` pixels goes on a page (figure fractions: left, bottom, width,
    height): as large as fits above the footer, centred."""
    page_w, page_h = A4_LANDSCAPE
    box_w, box_h = 0.96 * page_w, (0.94 - FOOTER_HEIGHT - 0.01) * page_h
    scale = min(box_w / width, box_h / height)
    w, h = width * scale / page_w, height * scale / page_h
    return ((1 - w) / 2, FOOTER_HEIGHT + 0.01 + (0.94 - FOOTER_HEIGHT - 0.01 - h) / 2, w, h)


def _image_page(png: Path, section: str) -> Figure:
    """A page showing one plot PNG, scaled to fit above the footer (in ``EmbeddingPdfPages`` the PDF embeds the
    PNG's own data, analytics.render.png_embed)."""
    picture = PlotPng.read(png)
    fig = plt.figure(figsize=A4_LANDSCAPE, dpi=PLOT_DPI)
    fig.text(0.02, 0.965, pdf_text(section.upper()), fontsize=7, color="#777777", va="top")
    ax = fig.add_axes(_image_box(picture.width, picture.height))
    png_imshow(ax, picture)  # embedded as is: no resampling
    ax.axis("off")
    return fig


class ImagePages:
    """The plot pages of one report drawn on one figure and one Axes, re-used from page to page (issue 17: making a
    page's Axes was ~8 ms of CPU, 38 pages with the five default strata); each page is the page ``_image_page``
    makes, the same content stream. A page removes the figure's texts (the previous page's section line and its
    footer, ``_stamp``) and picture, moves the Axes to the new picture's box with its data limits reset as a new
    Axes has them, and shows the picture there."""

    def __init__(self) -> None:
        self._figure: Figure | None = None

    def __call__(self, png: Path, section: str) -> Figure:
        if self._figure is None:
            self._figure = _image_page(png, section)
            return self._figure
        fig = self._figure
        picture = PlotPng.read(png)
        ax = fig.axes[0]
        for artist in [*fig.texts, *ax.images]:
            artist.remove()
        fig.text(0.02, 0.965, pdf_text(section.upper()), fontsize=7, color="#777777", va="top")
        ax.set_position(_image_box(picture.width, picture.height))
        ax.dataLim.set(Bbox.null())  # as Axes.clear leaves them: the picture's extent sets them and the limits
        ax.ignore_existing_data_limits = True
        png_imshow(ax, picture)
        return fig


def report_outline(numbers: dict[str, Any], plots: list[Path]) -> list[tuple[str, Callable[[], Figure]]]:
    """``(section, page builder)`` for every page after the cover, in page order."""
    tables = [*cohort_tables(numbers), *report_tables(numbers), *local_control_tables(numbers), *exploratory_tables(numbers)]
    pages: list[tuple[str, Callable[[], Figure]]] = []
    image_page = ImagePages()
    for section, prefix in SECTION_PLOTS.items():
        if section == "Patient flow" and numbers.get("patient_flow"):
            pages.append(
                (
                    section,
                    lambda: flow_diagram_page(
                        numbers["patient_flow"], _page("Patient flow: enrolled, treated and analysed", "Patient flow")
                    ),
                )
            )
        blocks = [block for table in tables if table.section == section for block in _blocks(table)]
        pages += [(section, functools.partial(_tables_page, page)) for page in _pack(blocks)]
        prefixes = (prefix,) if isinstance(prefix, str) else prefix or ()
        for wanted in prefixes:
            for png in plots:
                if png.name == f"{wanted}.png" or png.name.startswith(f"{wanted}_by_"):
                    pages.append((section, functools.partial(image_page, png, section)))
    return pages


def _contents(outline: list[tuple[str, Any]]) -> list[tuple[str, int, int]]:
    contents: dict[str, list[int]] = {}
    for page, (section, _) in enumerate(outline, start=2):
        contents.setdefault(section, []).append(page)
    return [(section, pages[0], pages[-1]) for section, pages in contents.items()]


def pdf_pages(numbers: dict[str, Any], metadata: dict[str, Any], outline: list[tuple[str, Callable[[], Figure]]]):
    """Yield ``(section, figure)`` for every page in page order: the cover (with contents), then the sections."""
    yield "Summary", _cover(numbers, metadata, _contents(outline))
    for section, build in outline:
        yield section, build()


def pdf_write(directory: Path, *, numbers: dict[str, Any], plots: list[Path], metadata: dict[str, Any]) -> str:
    """Write report.pdf: cover with contents, then per section its tables and plots (the run's PNG files)."""
    target = directory / REPORT_PDF
    outline = report_outline(numbers, plots)
    total = 1 + len(outline)
    with (
        _standard_fonts(),
        afm_string_metrics(),  # the standard fonts' string metrics per distinct character: the same numbers
        atomic_path(target) as tmp,
        EmbeddingPdfPages(
            tmp,
            metadata={"Title": "Registry outcomes report", "Subject": f"data fingerprint {numbers['fingerprint']}"},
        ) as pdf,
    ):
        for page, (_, fig) in enumerate(pdf_pages(numbers, metadata, outline), start=1):
            _stamp(fig, metadata, numbers["fingerprint"], page, total)
            pdf.savefig(fig)
            plt.close(fig)
    return target.name
