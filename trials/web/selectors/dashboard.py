"""Data manager dashboard: completeness by site × visit, overdue per site, out-of-window visits.

Registry convention for *completeness* (share of expected visits with data):
a visit is *expected* once it has data or its window has closed (docs/domain.md §2:
completed or missed); visits still upcoming or open, and visits made not
applicable by an earlier study exit, are not in the denominator.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db.models import Count, Exists, F, OuterRef, Q
from django.utils import timezone

from trials.access import scope_queryset
from trials.domain.schedule import DEFAULT_SCHEDULE
from trials.models import StudyExit, Visit
from trials.models.sites import site_today_expression

OUT_OF_WINDOW_LIMIT = 200


@dataclass(frozen=True)
class CompletenessCell:
    completed: int
    expected: int

    @property
    def share(self) -> float | None:
        return None if not self.expected else self.completed / self.expected

    @property
    def percent(self) -> int | None:
        share = self.share
        return None if share is None else round(100 * share)


@dataclass(frozen=True)
class CompletenessRow:
    site_code: str
    cells: list[CompletenessCell]  # one per visit in DEFAULT_SCHEDULE order
    total: CompletenessCell
    overdue: int


@dataclass(frozen=True)
class Dashboard:
    on: dt.date
    visit_labels: list[str]
    rows: list[CompletenessRow]
    out_of_window: list[Visit]
    out_of_window_total: int


def _exit_makes_not_applicable():
    """An exit on or before the window end, already past (site-local) today → not applicable (docs/domain.md §2)."""
    return Exists(
        StudyExit.objects.active().filter(
            patient_id=OuterRef("patient_id"), exit_date__lte=OuterRef("window_end"), exit_date__lt=OuterRef("local_today")
        )
    )


def _scoped_visits(user):
    return scope_queryset(user, Visit.objects.active().filter(patient__voided_at__isnull=True))


def completeness_counts(user, *, at: dt.datetime | None = None) -> list[dict]:
    """One aggregate query: per site and visit code, completed / missed / overdue counts, each site on its local date."""
    no_data = Q(visit_date__isnull=True) & Q(not_applicable=False)
    on = F("local_today")
    return list(
        _scoped_visits(user)
        .annotate(local_today=site_today_expression(at=at))
        .annotate(not_applicable=_exit_makes_not_applicable())
        .values("patient__site__code", "visit_code")
        .annotate(
            completed=Count("id", filter=Q(visit_date__isnull=False)),
            missed=Count("id", filter=no_data & Q(window_end__lt=on)),
            overdue=Count("id", filter=no_data & Q(target_date__lt=on, window_end__gte=on)),
        )
        .order_by("patient__site__code", "visit_code")
    )


def dashboard_for(user, *, at: dt.datetime | None = None) -> Dashboard:
    """Completeness and overdue per site (each on its own local date) and out-of-window visits, at instant ``at``."""
    by_site: dict[str, dict[str, dict]] = {}
    for row in completeness_counts(user, at=at):
        by_site.setdefault(row["patient__site__code"], {})[row["visit_code"]] = row
    rows = []
    for code in sorted(by_site):
        cells = []
        for definition in DEFAULT_SCHEDULE:
            counts = by_site[code].get(definition.code, {"completed": 0, "missed": 0})
            cells.append(CompletenessCell(counts["completed"], counts["completed"] + counts["missed"]))
        total = CompletenessCell(sum(c.completed for c in cells), sum(c.expected for c in cells))
        overdue = sum(r["overdue"] for r in by_site[code].values())
        rows.append(CompletenessRow(code, cells, total, overdue))
    out_of_window_qs = _scoped_visits(user).filter(out_of_window=True)
    out_of_window = list(out_of_window_qs.select_related("patient", "patient__site").order_by("-visit_date")[:OUT_OF_WINDOW_LIMIT])
    return Dashboard(
        on=timezone.localdate(at),
        visit_labels=[d.label for d in DEFAULT_SCHEDULE],
        rows=rows,
        out_of_window=out_of_window,
        out_of_window_total=out_of_window_qs.count(),
    )
