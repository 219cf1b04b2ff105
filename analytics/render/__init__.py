"""Renderers: a run's numbers and analysis sets → downloadable artifacts (DESIGN.md "Analytics" 4).

``artifacts_render`` writes, into one run directory, ``result.json``,
``adtte.csv``, ``adresp.csv``, ``tables.xlsx``, the PNG plots and
``report.pdf``, and returns their file names. Files are written to a temporary
name and renamed, so a re-run replaces each artifact whole.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

from analytics.derive import AnalysisSets
from analytics.render.files import analysis_csvs_write, result_json_write, xlsx_write
from analytics.render.pdf import pdf_write
from analytics.render.plots import plots_write
from analytics.render.tables import result_tables

__all__ = ["artifacts_render", "render_inputs"]


def render_inputs(sets: AnalysisSets) -> AnalysisSets:
    """``sets`` reduced to what ``artifacts_render`` reads — adtte (its CSV, the curves' numbers at risk), adresp
    (its CSV) and adltp (the LTP curve's numbers at risk) — with every other frame emptied (no rows, same
    columns) or dropped, so the run's worker
    frees them before rendering: render's fixed cost (matplotlib, the PDF) is the peak of small runs, and the
    frames under it grew with the registry (issue 17 item 4, worker memory)."""
    return replace(
        sets,
        patients=sets.patients.iloc[:0].copy(),
        pain=sets.pain.iloc[:0].copy(),
        aes=sets.aes.iloc[:0].copy(),
        itt_population={},
        enrolment=None,
        visits_not_done=None,
        lesion_control=None,
    )


@contextmanager
def long_lived_objects_frozen() -> Iterator[None]:
    """The objects alive on entry (the modules, classes and functions, the run's numbers: ~270,000 in a report run
    in-process) left out of the garbage collector's full collections until exit (``gc.freeze``).

    Rendering makes ~130 matplotlib figures whose objects outlive the young generations while a figure is drawn,
    so the collector runs full collections, and each of those walked every long-lived object: ~1 s of the render
    stage's CPU at 100,000 patients in-process (issue 17). Frozen, a full collection walks only what render itself
    made, and render's garbage is still collected as before. A Celery worker has frozen its start-up objects
    already (config.celery_app): when something froze objects (``gc.get_freeze_count``), the process's state is
    left alone."""
    if gc.get_freeze_count():
        yield
        return
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def artifacts_render(directory: Path, *, numbers: dict[str, Any], sets: AnalysisSets, metadata: dict[str, Any]) -> list[str]:
    directory.mkdir(parents=True, exist_ok=True)
    with long_lived_objects_frozen():
        tables = result_tables(numbers)
        names = [result_json_write(directory, numbers, metadata)]
        names += analysis_csvs_write(directory, sets)
        names.append(xlsx_write(directory, tables))
        plots = list(plots_write(directory, numbers, sets).values())
        names += [path.name for path in plots]
        names.append(pdf_write(directory, numbers=numbers, plots=plots, metadata=metadata))
    return sorted(names)
