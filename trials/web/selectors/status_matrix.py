"""Record status matrix (issue 11 item 5; REDCap's record status dashboard, OpenClinica's subject matrix).

Patients × scheduled visits, one cell per visit with its state (not started,
incomplete, complete, signed, missed, overdue, not done, upcoming, not
applicable) and flags (open query, locked). A page of patients costs a fixed
number of queries whatever its size: the patient page and its count, the visits
with their BPI, the current signatures, the open queries, the exits and the
locks — each one query for the whole page.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from django.db.models import Exists, F, OuterRef, Q, QuerySet, Subquery
from django.urls import reverse

from trials.access import scope_queryset
from trials.domain import schedule
from trials.domain.schedule import VisitStatus
from trials.models import (
    DataQuery,
    Lock,
    LockScope,
    MedicationUse,
    OpioidStatus,
    Patient,
    QueryStatus,
    Signature,
    StudyExit,
    Visit,
)
from trials.models.sites import site_today_expression
from trials.services.locking import active_locks_by_patient

VISIT_CODES = [code for code, _ in schedule.VISIT_CHOICES]
_NOT_DONE_FIELD = next((f.name for f in Visit._meta.concrete_fields if f.name in ("not_done", "not_done_reason")), None)


@dataclass(frozen=True)
class CellState:
    code: str
    label: str
    icon: str


STATES = {
    s.code: s
    for s in (
        CellState("not_started", "Not started (window open)", "○"),
        CellState("incomplete", "Incomplete", "◐"),
        CellState("complete", "Complete", "●"),
        CellState("signed", "Signed", "✔"),
        CellState("overdue", "Overdue", "!"),
        CellState("missed", "Missed", "✕"),
        CellState("not_done", "Not done", "⊘"),
        CellState("upcoming", "Upcoming", "·"),
        CellState("not_applicable", "Not applicable", "–"),
    )
}
FLAGS = {"open_query": ("Open query", "?"), "locked": ("Locked", "L")}
FILTERS = [
    ("not_started", "Not started"),
    ("incomplete", "Incomplete"),
    ("complete", "Complete"),
    ("signed", "Signed"),
    ("locked", "Locked"),
    ("open_query", "Open query"),
    ("missed", "Missed"),
    ("overdue", "Overdue"),
]
if _NOT_DONE_FIELD:
    FILTERS.append(("not_done", "Not done"))
LEGEND = [state for code, state in STATES.items() if code != "not_done" or _NOT_DONE_FIELD]


@dataclass
class Cell:
    visit: Visit | None
    state: CellState | None
    open_query: bool = False
    locked: bool = False
    url: str = ""  # the read-only visit page, for visits with data


@dataclass
class MatrixRow:
    patient: Patient
    cells: list[Cell] = field(default_factory=list)
    locked: bool = False
    open_queries: int = 0


def _is_incomplete(visit: Visit) -> bool:
    pain = getattr(visit, "pain", None)
    return pain is None or pain.worst is None or visit.opioid_status == OpioidStatus.UNKNOWN


def _not_done(visit: Visit) -> bool:
    return bool(_NOT_DONE_FIELD and getattr(visit, _NOT_DONE_FIELD))


def cell_state(visit: Visit, on: dt.date, exit_date: dt.date | None, signed: bool) -> CellState:
    """The state shown for one visit on day ``on``."""
    if _not_done(visit):
        return STATES["not_done"]
    status = visit.status_on(on, exit_date)
    if status == VisitStatus.COMPLETED:
        if signed:
            return STATES["signed"]
        return STATES["incomplete" if _is_incomplete(visit) else "complete"]
    return STATES[
        {
            VisitStatus.DUE: "not_started",
            VisitStatus.OVERDUE: "overdue",
            VisitStatus.MISSED: "missed",
            VisitStatus.UPCOMING: "upcoming",
            VisitStatus.NOT_APPLICABLE: "not_applicable",
        }[status]
    ]


def _visits(*conditions, **lookups) -> Exists:
    return Exists(Visit.objects.active().filter(*conditions, patient_id=OuterRef("pk"), **lookups))


def filter_patients(patients: QuerySet, status: str | None, dates: dict[int, dt.date]) -> QuerySet:
    """Patients with at least one visit (or the patient itself) in ``status``, decided in SQL on each site's local date."""
    if not status:
        return patients
    patients = patients.annotate(_local_today=site_today_expression("site_id", dates=dates))
    on = OuterRef("_local_today")  # each patient's site's calendar date, compared inside the visit subqueries
    no_data = Q(visit_date__isnull=True)
    signed = Exists(
        Signature.objects.filter(visit_id=OuterRef("pk"), invalidated_at__isnull=True, visit_version=OuterRef("version"))
    )
    incomplete = Q(pain__isnull=True) | Q(pain__worst__isnull=True) | Q(opioid_status=OpioidStatus.UNKNOWN)
    conditions = {
        "not_started": lambda: _visits(no_data, window_start__lte=on, target_date__gte=on),
        "overdue": lambda: _visits(no_data, target_date__lt=on, window_end__gte=on),
        "missed": lambda: _visits(no_data, window_end__lt=on),
        "complete": lambda: _visits(~incomplete & ~signed, visit_date__isnull=False),
        "incomplete": lambda: _visits(incomplete & ~signed, visit_date__isnull=False),
        "signed": lambda: _visits(signed, visit_date__isnull=False),
        "open_query": lambda: Exists(DataQuery.objects.filter(patient_id=OuterRef("pk")).exclude(status=QueryStatus.CLOSED)),
        "locked": lambda: Exists(
            Lock.objects.filter(unlocked_at__isnull=True).filter(
                Q(scope=LockScope.STUDY) | Q(scope=LockScope.SITE, site_id=OuterRef("site_id")) | Q(patient_id=OuterRef("pk"))
            )
        ),
    }
    if _NOT_DONE_FIELD:
        conditions["not_done"] = lambda: _visits(~Q(**{_NOT_DONE_FIELD: ""}) & Q(**{f"{_NOT_DONE_FIELD}__isnull": False}))
    make = conditions.get(status or "")
    return patients if make is None else patients.filter(make())


def matrix_patients(user, *, site_id: int | None, status: str | None, dates: dict[int, dt.date]) -> QuerySet:
    """The scoped, filtered patients of the matrix, in study-ID order (slice it for a page).

    ``dates``: each site's local date (``site_local_dates``), so statuses follow the site's calendar.
    """
    patients = scope_queryset(user, Patient.objects.active()).select_related("site")
    if site_id:
        patients = patients.filter(site_id=site_id)
    return filter_patients(patients, status, dates).order_by("study_id")


def matrix_rows(patients: list[Patient], dates: dict[int, dt.date]) -> list[MatrixRow]:
    """One row per patient of the page; six queries whatever the page size (visits, signatures, exits, locks, queries)."""
    if not patients:
        return []
    ids = [p.pk for p in patients]
    visits = list(Visit.objects.active().filter(patient_id__in=ids).select_related("pain"))
    signed = set(
        Signature.objects.filter(
            visit__in=[v.pk for v in visits], invalidated_at__isnull=True, visit_version=F("visit__version")
        ).values_list("visit_id", flat=True)
    )
    exits = dict(StudyExit.objects.active().filter(patient_id__in=ids).values_list("patient_id", "exit_date"))
    locks = active_locks_by_patient(patients)
    pain_to_visit = {v.pain.pk: v.pk for v in visits if getattr(v, "pain", None) is not None}
    queried_visits: set[int] = set()
    open_count: dict[int, int] = {}
    open_queries = (
        DataQuery.objects.filter(patient_id__in=ids)
        .exclude(status=QueryStatus.CLOSED)
        .annotate(medication_visit=Subquery(MedicationUse.objects.filter(pk=OuterRef("object_id")).values("visit_id")[:1]))
        .values_list("patient_id", "content_type__model", "object_id", "medication_visit")
    )
    for patient_id, model, object_id, medication_visit in open_queries:
        open_count[patient_id] = open_count.get(patient_id, 0) + 1
        if model == "visit":
            queried_visits.add(object_id)
        elif model == "painassessment" and object_id in pain_to_visit:
            queried_visits.add(pain_to_visit[object_id])
        elif model == "medicationuse" and medication_visit is not None:
            queried_visits.add(medication_visit)
    by_patient: dict[int, dict[str, Visit]] = {}
    for visit in visits:
        by_patient.setdefault(visit.patient_id, {})[visit.visit_code] = visit
    url_pattern = reverse("visit_detail", args=["STUDY-ID", "VISIT-CODE"])  # reversed once, filled per cell
    rows = []
    for patient in patients:
        locked = patient.pk in locks
        row = MatrixRow(patient=patient, locked=locked, open_queries=open_count.get(patient.pk, 0))
        for code in VISIT_CODES:
            visit = by_patient.get(patient.pk, {}).get(code)
            if visit is None:
                row.cells.append(Cell(None, None))
                continue
            visit.patient = patient
            state = cell_state(visit, dates[patient.site_id], exits.get(patient.pk), visit.pk in signed)
            url = url_pattern.replace("STUDY-ID", patient.study_id).replace("VISIT-CODE", code) if visit.has_data else ""
            row.cells.append(Cell(visit, state, open_query=visit.pk in queried_visits, locked=locked and visit.has_data, url=url))
        rows.append(row)
    return rows
