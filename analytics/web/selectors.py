"""Report runs for the investigator reports page (the services write them; this module only reads)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db.models.fields.json import KeyTransform
from django.shortcuts import get_object_or_404

from analytics.dataset import registry_data_version_cached
from analytics.models import ReportRun, RunStatus

PAST_RUNS_LIMIT = 25
LANDMARK_DAYS = ("30", "90", "180", "365")
DOWNLOAD_ORDER = (".pdf", ".xlsx", ".csv", ".json")


@dataclass(frozen=True)
class PastRun:
    run: ReportRun
    data_changed: bool | None  # None: the run has no fingerprint (not finished)


def current_data_version() -> str:
    """The registry's data version now (cheap; changes with every clinical change)."""
    return registry_data_version_cached()


def past_runs(*, data_version: str) -> list[PastRun]:
    runs = ReportRun.objects.select_related("requested_by").defer("result")[:PAST_RUNS_LIMIT]  # the list never shows it
    return [PastRun(run, None if not run.data_version else run.data_version != data_version) for run in runs]


# The parts of result.json the summary reads (``report_summary``), as paths into the JSON; the rest (curves,
# tables: about 2.8 MB at 100,000 patients) stays in the database.
SUMMARY_PATHS: dict[str, tuple[str, ...]] = {
    "n_patients": ("n_patients",),
    "data_cutoff": ("data_cutoff",),
    "strata": ("parameters", "strata"),
    "pain_response": ("pain_response",),
    "sre_at_days": ("sre", "at_days"),
    "os_at_days": ("overall_survival", "at_days"),
}


def _json_path(path: tuple[str, ...]):
    expression: object = "result"
    for key in path:
        expression = KeyTransform(key, expression)
    return expression


def run_get(run_id: int) -> ReportRun:
    """A run without its ``result`` (the progress poll and the downloads never read it), or 404."""
    return get_object_or_404(ReportRun.objects.select_related("requested_by").defer("result"), pk=run_id)


def run_with_summary(run_id: int) -> tuple[ReportRun, dict[str, Any]]:
    """A run (``result`` deferred) and the part of its result the summary shows, in one query, or 404.

    The part is cut out of the JSON by the database (``result -> 'sre' -> 'at_days'`` …) so a request never
    transfers and parses the whole result (2.8 MB at 100,000 patients); it has the shape of result.json,
    holding only the keys ``report_summary`` reads (missing ones are absent, as in the full result)."""
    annotations = {f"summary_{name}": _json_path(path) for name, path in SUMMARY_PATHS.items()}
    run = get_object_or_404(ReportRun.objects.select_related("requested_by").defer("result").annotate(**annotations), pk=run_id)
    part: dict[str, Any] = {}
    for name, path in SUMMARY_PATHS.items():
        value = getattr(run, f"summary_{name}")
        if value is None:
            continue
        target = part
        for key in path[:-1]:
            target = target.setdefault(key, {})
        target[path[-1]] = value
    return run, part


def run_status(run: ReportRun) -> dict[str, Any]:
    return {
        "id": run.pk,
        "status": run.status,
        "progress": run.progress,
        "stage": run.stage,
        "finished": run.is_finished,
        "succeeded": run.status == RunStatus.SUCCEEDED,
        "error": run.error_message,
    }


def downloads(run: ReportRun) -> list[str]:
    """Artifacts offered as downloads, PDF first; plots are shown inline instead."""
    files = [name for name in run.artifacts if not name.endswith(".png")]
    return sorted(files, key=lambda n: (next((i for i, ext in enumerate(DOWNLOAD_ORDER) if n.endswith(ext)), 99), n))


def plots(run: ReportRun) -> list[str]:
    return [name for name in run.artifacts if name.endswith(".png")]


def _estimate(at_days: dict | None, stratum: str = "all") -> list[float | None]:
    points = (at_days or {}).get(stratum, {})
    return [(points.get(day) or {}).get("estimate") for day in LANDMARK_DAYS]


def report_summary(result: dict[str, Any] | None) -> dict[str, Any]:
    """The headline numbers of a result (overall stratum), read defensively from result.json's contract."""
    if not result:
        return {}
    response_rows = []
    for visit, strata in (result.get("pain_response") or {}).items():
        overall = strata.get("all") or {}
        response_rows.append(
            {
                "visit": visit,
                "evaluable": overall.get("evaluable"),
                "evaluable_rate": overall.get("evaluable_rate"),
                "itt_denominator": overall.get("itt_denominator"),
                "itt_rate": overall.get("itt_rate"),
            }
        )
    return {
        "n_patients": result.get("n_patients"),
        "data_cutoff": result.get("data_cutoff"),
        "strata": (result.get("parameters") or {}).get("strata", []),
        "response": response_rows,
        "landmark_days": LANDMARK_DAYS,
        "sre_cif": _estimate((result.get("sre") or {}).get("at_days")),
        "os": _estimate((result.get("overall_survival") or {}).get("at_days")),
    }
