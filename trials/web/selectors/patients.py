"""Patient list and the one-page patient timeline."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal

from django.db.models import Prefetch, QuerySet
from django.shortcuts import get_object_or_404

from trials.access import scope_queryset
from trials.domain.schedule import VisitStatus
from trials.models import (
    AdverseEvent,
    ImagingAssessment,
    Lesion,
    MedicationUse,
    Patient,
    Procedure,
    RadiationCourse,
    Signature,
    Site,
    SkeletalEvent,
    StudyExit,
    Visit,
)
from trials.selectors import active_medications, visits_with_pain_and_medications
from trials.services.locking import active_lock_for


def readable_sites(user) -> QuerySet[Site]:
    return scope_queryset(user, Site.objects.all())


def writable_sites(user) -> QuerySet[Site]:
    return scope_queryset(user, Site.objects.all(), write=True)


def patient_list(user, *, search: str = "", site_id: int | None = None) -> QuerySet[Patient]:
    """Scoped, non-voided patients, optionally matched on (part of) the study ID."""
    qs = scope_queryset(user, Patient.objects.active()).select_related("site")
    if search:
        qs = qs.filter(study_id__icontains=search.strip())
    if site_id:
        qs = qs.filter(site_id=site_id)
    return qs.prefetch_related(Prefetch("exits", queryset=StudyExit.objects.active(), to_attr="active_exits"))


def patient_get(user, study_id: str) -> Patient:
    """A patient the user may read, or 404 — another site's patient does not exist for this user."""
    return get_object_or_404(scope_queryset(user, Patient.objects.active()).select_related("site"), study_id=study_id)


@dataclass(frozen=True)
class VisitLine:
    visit: Visit
    status: VisitStatus
    medications: list[MedicationUse]
    omed: Decimal | None

    @property
    def status_label(self) -> str:
        return self.status.value.replace("_", " ").capitalize()

    @property
    def signature(self):
        """The newest signature of the visit (current or invalidated), or None."""
        signatures = getattr(self.visit, "all_signatures", [])
        return signatures[0] if signatures else None

    @property
    def signature_state(self) -> str:
        """'signed' (covers the current data), 'invalidated' (changed since) or '' (never signed)."""
        signature = self.signature
        if signature is None:
            return ""
        current = signature.invalidated_at is None and signature.visit_version == self.visit.version
        return "signed" if current else "invalidated"

    @property
    def worst_pain(self) -> int | None:
        pain = getattr(self.visit, "pain", None)
        return None if pain is None else pain.worst


@dataclass
class Timeline:
    patient: Patient
    on: dt.date
    lesions: list[Lesion]
    procedures: list[Procedure]
    radiation_courses: list[RadiationCourse]
    visits: list[VisitLine]
    adverse_events: list[AdverseEvent]
    skeletal_events: list[SkeletalEvent]
    imaging_assessments: list[ImagingAssessment]
    exit: StudyExit | None
    lock: object = None
    extra: dict = field(default_factory=dict)


def _active(model):
    return model.objects.active()


def patient_timeline(user, study_id: str, *, on: dt.date | None = None) -> Timeline:
    """Everything about one patient on one page, in a fixed number of queries.

    Visit status is as of ``on``, by default today at the patient's site (its time zone).
    """
    qs = (
        scope_queryset(user, Patient.objects.active())
        .select_related("site")
        .prefetch_related(
            Prefetch("lesions", queryset=_active(Lesion), to_attr="active_lesions"),
            Prefetch("procedures", queryset=_active(Procedure).prefetch_related("lesions"), to_attr="active_procedures"),
            Prefetch("radiation_courses", queryset=_active(RadiationCourse), to_attr="active_radiation"),
            Prefetch(
                "visits",
                queryset=visits_with_pain_and_medications(_active(Visit)).prefetch_related(
                    Prefetch("signatures", queryset=Signature.objects.order_by("-signed_at"), to_attr="all_signatures"),
                ),
                to_attr="active_visits",
            ),
            Prefetch("adverse_events", queryset=_active(AdverseEvent), to_attr="active_aes"),
            Prefetch("skeletal_events", queryset=_active(SkeletalEvent), to_attr="active_sres"),
            Prefetch("imaging_assessments", queryset=_active(ImagingAssessment), to_attr="active_imaging"),
            Prefetch("exits", queryset=_active(StudyExit), to_attr="active_exits"),
        )
    )
    patient = get_object_or_404(qs, study_id=study_id)
    on = on or patient.site.local_date()
    exit_ = patient.active_exits[0] if patient.active_exits else None
    exit_date = exit_.exit_date if exit_ else None
    visits = []
    for visit in patient.active_visits:
        visit.patient = patient  # already loaded; avoids a query per visit in status_on
        meds = active_medications(visit)
        visits.append(VisitLine(visit, visit.status_on(on, exit_date), meds, visit.omed(meds)))
    for course in patient.active_radiation:
        course.patient = patient
    return Timeline(
        patient=patient,
        on=on,
        lesions=patient.active_lesions,
        procedures=patient.active_procedures,
        radiation_courses=patient.active_radiation,
        visits=visits,
        adverse_events=patient.active_aes,
        skeletal_events=patient.active_sres,
        imaging_assessments=patient.active_imaging,
        exit=exit_,
        lock=active_lock_for(patient.pk, patient.site_id),
    )


def visit_get(user, study_id: str, visit_code: str) -> Visit:
    """One scoped visit with its patient, BPI and active opioid rows, or 404."""
    qs = (
        scope_queryset(user, Visit.objects.active())
        .filter(patient__voided_at__isnull=True)
        .select_related("patient", "patient__site")
    )
    qs = visits_with_pain_and_medications(qs)
    return get_object_or_404(qs, patient__study_id=study_id, visit_code=visit_code)


def next_visit_to_enter(visit: Visit, *, today: dt.date) -> Visit | None:
    """The patient's next scheduled visit after ``visit`` without data whose window has opened by ``today``."""
    return (
        Visit.objects.active()
        .filter(patient_id=visit.patient_id, visit_date__isnull=True, target_date__gt=visit.target_date, window_start__lte=today)
        .order_by("target_date")
        .first()
    )
