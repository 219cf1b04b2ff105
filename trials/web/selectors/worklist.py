"""The coordinator worklist: visits due or overdue today (docs/domain.md §2)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.core.paginator import Page, Paginator
from django.db.models import Case, Count, Exists, F, OuterRef, Prefetch, Q, Value, When
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
    rows: list[WorklistRow]  # the current page's rows
    counts: dict[str, int]  # every page: overdue, due, missed
    page: Page | None = None


def active_exits_prefetch(path: str = "patient__exits") -> Prefetch:
    return Prefetch(path, queryset=StudyExit.objects.active(), to_attr="active_exits")


def exit_date_of(patient) -> dt.date | None:
    exits = getattr(patient, "active_exits", None)
    if exits is None:
        exits = list(StudyExit.objects.active().filter(patient_id=patient.pk))
    return exits[0].exit_date if exits else None


def today_bounds(at: dt.datetime | None, dates: dict[int, dt.date]) -> tuple[dt.date, dt.date]:
    """The earliest and the latest "today" over the sites (and the server's date, the fallback of
    ``site_today_expression``): constants that bound each row's site-local today.

    Comparing a column with the per-site CASE expression cannot use an index; the same comparison with these
    bounds (implied by it, so the rows are the same) lets PostgreSQL range-scan ``visit_no_data_window_idx``
    instead of reading all of ``trials_visit`` (700,000 rows at 100,000 patients)."""
    days = [*dates.values(), timezone.localdate(at)]
    return min(days), max(days)


def open_visits(user, *, at: dt.datetime | None = None, dates: dict[int, dt.date] | None = None):
    """Scoped visits without data whose window is open today at their site (candidates for due/overdue).

    Each row carries ``local_today``: the date at the patient's site at instant ``at`` (now by default).
    """
    dates = site_local_dates(at) if dates is None else dates
    earliest, latest = today_bounds(at, dates)
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
        .filter(window_end__gte=earliest, window_start__lte=latest)  # implied by the two above; indexable
    )
    return scope_queryset(user, qs)


def missed_count(
    user, *, at: dt.datetime | None = None, site_id: int | None = None, dates: dict[int, dt.date] | None = None
) -> int:
    """Visits whose window closed (site-local) without data, excluding those made not applicable by an earlier exit."""
    exited_before_close = StudyExit.objects.active().filter(
        patient_id=OuterRef("patient_id"), exit_date__lte=OuterRef("window_end")
    )
    dates = site_local_dates(at) if dates is None else dates
    qs = scope_queryset(
        user,
        Visit.objects.active()
        .annotate(local_today=site_today_expression(at=at, dates=dates))
        .filter(visit_date__isnull=True, not_done_reason="", window_end__lt=F("local_today"), patient__voided_at__isnull=True)
        .filter(window_end__lt=today_bounds(at, dates)[1]),  # implied by the above; indexable
    ).filter(~Exists(exited_before_close))
    if site_id:
        qs = qs.filter(patient__site_id=site_id)
    return qs.count()


WORKLIST_PAGE_SIZE = 50


def exit_makes_not_applicable():
    """SQL twin of the exit rule of ``visit_status``: an active exit on or before the window end, already past
    (site-local) today → not applicable (docs/domain.md §2). Needs ``local_today`` annotated on the visits."""
    return Exists(
        StudyExit.objects.active().filter(
            patient_id=OuterRef("patient_id"), exit_date__lte=OuterRef("window_end"), exit_date__lt=OuterRef("local_today")
        )
    )


def urgent_visits(user, *, at: dt.datetime | None = None, site_id: int | None = None, dates: dict[int, dt.date] | None = None):
    """Due and overdue visits (open window, no data, not done, not made not applicable by an exit), most urgent first.

    Each row carries ``local_today`` and ``urgency`` (0 overdue: past the target day; 1 due). Order: overdue
    before due, then the window that closes first, the earlier target, the study id — the worklist's order.
    """
    qs = (
        open_visits(user, at=at, dates=dates)
        .filter(~exit_makes_not_applicable())
        .annotate(urgency=Case(When(local_today__gt=F("target_date"), then=Value(0)), default=Value(1)))
    )
    if site_id:
        qs = qs.filter(patient__site_id=site_id)
    return qs.order_by("urgency", "window_end", "target_date", "patient__study_id", "pk")


def worklist_for(
    user,
    *,
    at: dt.datetime | None = None,
    site_id: int | None = None,
    status: str | None = None,
    page: int | str | None = 1,
    page_size: int | None = None,
) -> Worklist:
    """Due and overdue visits in the user's sites, most urgent first, one page (``page_size``, default
    ``WORKLIST_PAGE_SIZE``), with counts per status.

    The database orders and pages (``urgent_visits``); the status shown on each row still comes from
    ``trials.domain.schedule.visit_status`` (via ``Visit.status_on``) so the rules live in one place. Five queries
    whatever the number of rows: the sites' dates, the counts, the page's visits with patient and site, their
    exits, the missed count. "Today" is each site's local date at instant ``at``.
    """
    dates = site_local_dates(at)
    urgent = urgent_visits(user, at=at, site_id=site_id, dates=dates)
    counted = urgent.order_by().aggregate(overdue=Count("id", filter=Q(urgency=0)), due=Count("id", filter=Q(urgency=1)))
    counts = {VisitStatus.OVERDUE.value: counted["overdue"], VisitStatus.DUE.value: counted["due"]}
    if status in counts:
        urgent = urgent.filter(urgency=0 if status == VisitStatus.OVERDUE.value else 1)
    page_size = page_size or WORKLIST_PAGE_SIZE
    # The page's ids are chosen from the index alone (visit_no_data_window_idx covers them; only the patients are
    # read), then its 50 rows are read whole: one query, ``id IN (… ORDER BY … LIMIT 50)``, instead of reading every
    # due visit's row to sort them (20,000 at 100,000 patients).
    paginator = Paginator(urgent.values_list("pk", flat=True), page_size)
    paginator.count = counts[status] if status in counts else sum(counts.values())  # known: saves a COUNT query
    page_obj = paginator.get_page(page)
    page_obj.object_list = list(
        urgent.filter(pk__in=page_obj.object_list)
        .select_related("patient", "patient__site")
        .prefetch_related(active_exits_prefetch())
    )
    rows = []
    for visit in page_obj.object_list:
        visit_status = visit.status_on(visit.local_today, exit_date_of(visit.patient))
        if visit_status in _URGENCY_RANK:
            rows.append(WorklistRow(visit, visit_status, visit.local_today))
    counts[VisitStatus.MISSED.value] = missed_count(user, at=at, site_id=site_id, dates=dates)
    return Worklist(on=_users_today(user, dates, at=at, site_id=site_id), rows=rows, counts=counts, page=page_obj)


def _users_today(user, dates: dict[int, dt.date], *, at: dt.datetime | None, site_id: int | None) -> dt.date:
    """The date shown atop the worklist: the local date of the user's site(s) if they agree, else the server's."""
    access = access_for(user)
    sites = [site_id] if site_id else (list(dates) if access.reads_all else access.readable_site_ids)
    local = {dates[pk] for pk in sites if pk in dates}
    return local.pop() if len(local) == 1 else timezone.localdate(at)
