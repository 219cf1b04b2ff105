"""The coordinator worklist: visits due or overdue today (docs/domain.md §2)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db.models import Exists, OuterRef, Prefetch

from trials.access import scope_queryset
from trials.domain.schedule import VisitStatus
from trials.models import StudyExit, Visit

WORKLIST_STATUSES = (VisitStatus.OVERDUE, VisitStatus.DUE)
# Overdue before due; within a status the visit whose window closes first is most urgent.
_URGENCY_RANK = {VisitStatus.OVERDUE: 0, VisitStatus.DUE: 1}


@dataclass(frozen=True)
class WorklistRow:
    visit: Visit
    status: VisitStatus

    @property
    def patient(self):
        return self.visit.patient

    def days_to_target(self, on: dt.date) -> int:
        """Positive: days left until the target day; negative: days late after it."""
        return (self.visit.target_date - on).days

    def days_to_window_end(self, on: dt.date) -> int:
        return (self.visit.window_end - on).days


@dataclass(frozen=True)
class Worklist:
    on: dt.date
    rows: list[WorklistRow]
    counts: dict[str, int]


def active_exits_prefetch(path: str = "patient__exits") -> Prefetch:
    return Prefetch(path, queryset=StudyExit.objects.active(), to_attr="active_exits")


def exit_date_of(patient) -> dt.date | None:
    exits = getattr(patient, "active_exits", None)
    if exits is None:
        exits = list(StudyExit.objects.active().filter(patient_id=patient.pk))
    return exits[0].exit_date if exits else None


def open_visits(user, *, on: dt.date):
    """Scoped visits without data whose window is open today (candidates for due/overdue)."""
    qs = Visit.objects.active().filter(
        visit_date__isnull=True,
        window_start__lte=on,
        window_end__gte=on,
        patient__voided_at__isnull=True,
    )
    return scope_queryset(user, qs)


def missed_count(user, *, on: dt.date, site_id: int | None = None) -> int:
    """Visits whose window closed without data, excluding those made not applicable by an earlier exit."""
    exited_before_close = StudyExit.objects.active().filter(patient_id=OuterRef("patient_id"), exit_date__lte=OuterRef("window_end"))
    qs = scope_queryset(
        user,
        Visit.objects.active().filter(visit_date__isnull=True, window_end__lt=on, patient__voided_at__isnull=True),
    ).filter(~Exists(exited_before_close))
    if site_id:
        qs = qs.filter(patient__site_id=site_id)
    return qs.count()


def worklist_for(user, *, on: dt.date, site_id: int | None = None, status: str | None = None) -> Worklist:
    """Due and overdue visits in the user's sites, most urgent first, with counts per status.

    Status comes from ``trials.domain.schedule.visit_status`` (via ``Visit.status_on``)
    so the rules, including exit → not applicable, live in one place. Three
    queries whatever the number of rows: visits with patient and site, exits, missed count.
    """
    qs = open_visits(user, on=on).select_related("patient", "patient__site").prefetch_related(active_exits_prefetch())
    if site_id:
        qs = qs.filter(patient__site_id=site_id)
    rows = []
    for visit in qs:
        visit_status = visit.status_on(on, exit_date_of(visit.patient))
        if visit_status in _URGENCY_RANK:
            rows.append(WorklistRow(visit, visit_status))
    rows.sort(key=lambda r: (_URGENCY_RANK[r.status], r.visit.window_end, r.visit.target_date, r.patient.study_id))
    counts = {s.value: sum(1 for r in rows if r.status == s) for s in WORKLIST_STATUSES}
    counts[VisitStatus.MISSED.value] = missed_count(user, on=on, site_id=site_id)
    if status:
        rows = [r for r in rows if r.status == status]
    return Worklist(on=on, rows=rows, counts=counts)
