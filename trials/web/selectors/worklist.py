"""The coordinator worklist: visits due or overdue today (docs/domain.md §2)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db.models import Exists, F, OuterRef, Prefetch
from django.utils import timezone

from trials.access import access_for, scope_queryset
from trials.domain.schedule import VisitStatus
from trials.models import StudyExit, Visit
from trials.models.sites import site_local_dates, site_today_expression

WORKLIST_STATUSES = (VisitStatus.OVERDUE, VisitStatus.DUE)
# Overdue before due; within a status the visit whose window closes first is most urgent.
_URGENCY_RANK = {VisitStatus.OVERDUE: 0, VisitStatus.DUE: 1}


@dataclass(frozen=True)
class WorklistRow:
    visit: Visit
    status: VisitStatus
    on: dt.date  # today at the patient's site

    @property
    def patient(self):
        return self.visit.patient

    def days_to_target(self) -> int:
        """Positive: days left until the target day; negative: days late after it (site-local days)."""
        return (self.visit.target_date - self.on).days

    def days_to_window_end(self) -> int:
        return (self.visit.window_end - self.on).days


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


def open_visits(user, *, at: dt.datetime | None = None, dates: dict[int, dt.date] | None = None):
    """Scoped visits without data whose window is open today at their site (candidates for due/overdue).

    Each row carries ``local_today``: the date at the patient's site at instant ``at`` (now by default).
    """
    qs = (
        Visit.objects.active()
        .annotate(local_today=site_today_expression(at=at, dates=dates))
        .filter(
            visit_date__isnull=True,
            not_done_reason="",
            window_start__lte=F("local_today"),
            window_end__gte=F("local_today"),
            patient__voided_at__isnull=True,
        )
    )
    return scope_queryset(user, qs)


def missed_count(
    user, *, at: dt.datetime | None = None, site_id: int | None = None, dates: dict[int, dt.date] | None = None
) -> int:
    """Visits whose window closed (site-local) without data, excluding those made not applicable by an earlier exit."""
    exited_before_close = StudyExit.objects.active().filter(
        patient_id=OuterRef("patient_id"), exit_date__lte=OuterRef("window_end")
    )
    qs = scope_queryset(
        user,
        Visit.objects.active()
        .annotate(local_today=site_today_expression(at=at, dates=dates))
        .filter(visit_date__isnull=True, not_done_reason="", window_end__lt=F("local_today"), patient__voided_at__isnull=True),
    ).filter(~Exists(exited_before_close))
    if site_id:
        qs = qs.filter(patient__site_id=site_id)
    return qs.count()


def worklist_for(user, *, at: dt.datetime | None = None, site_id: int | None = None, status: str | None = None) -> Worklist:
    """Due and overdue visits in the user's sites, most urgent first, with counts per status.

    Status comes from ``trials.domain.schedule.visit_status`` (via ``Visit.status_on``)
    so the rules, including exit → not applicable, live in one place. Three
    queries whatever the number of rows (plus one per call for the sites' dates): visits with
    patient and site, exits, missed count. "Today" is each site's local date at instant ``at``.
    """
    dates = site_local_dates(at)
    qs = (
        open_visits(user, at=at, dates=dates).select_related("patient", "patient__site").prefetch_related(active_exits_prefetch())
    )
    if site_id:
        qs = qs.filter(patient__site_id=site_id)
    rows = []
    for visit in qs:
        visit_status = visit.status_on(visit.local_today, exit_date_of(visit.patient))
        if visit_status in _URGENCY_RANK:
            rows.append(WorklistRow(visit, visit_status, visit.local_today))
    rows.sort(key=lambda r: (_URGENCY_RANK[r.status], r.visit.window_end, r.visit.target_date, r.patient.study_id))
    counts = {s.value: sum(1 for r in rows if r.status == s) for s in WORKLIST_STATUSES}
    counts[VisitStatus.MISSED.value] = missed_count(user, at=at, site_id=site_id, dates=dates)
    if status:
        rows = [r for r in rows if r.status == status]
    return Worklist(on=_users_today(user, dates, at=at, site_id=site_id), rows=rows, counts=counts)


def _users_today(user, dates: dict[int, dt.date], *, at: dt.datetime | None, site_id: int | None) -> dt.date:
    """The date shown atop the worklist: the local date of the user's site(s) if they agree, else the server's."""
    access = access_for(user)
    sites = [site_id] if site_id else (list(dates) if access.reads_all else access.readable_site_ids)
    local = {dates[pk] for pk in sites if pk in dates}
    return local.pop() if len(local) == 1 else timezone.localdate(at)
