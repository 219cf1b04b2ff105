"""Reading the clinical data for an export: one scoped selector, a constant number of queries.

Every record comes with ``last_change_reason`` (the reason of its latest history
entry) so exports can carry an audit record without a query per row.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from decimal import Decimal
from typing import cast

from django.db.models import Model, OuterRef, Prefetch, QuerySet, Subquery

from trials.access import scope_queryset
from trials.interop.forms import Event, Form, Item
from trials.models import (
    AdverseEvent,
    ImagingAssessment,
    Lesion,
    MedicationUse,
    PainAssessment,
    Patient,
    Procedure,
    RadiationCourse,
    Signature,
    SkeletalEvent,
    StudyExit,
    Visit,
)
from trials.models.base import ClinicalRecord
from trials.selectors import ACTIVE_MEDICATIONS, active_medications_prefetch
from trials.services.text import export_text


def with_last_reason(model: type[Model]) -> QuerySet:
    history_model = model.history.model  # type: ignore[attr-defined]  # django-simple-history's manager
    history = history_model.objects.filter(id=OuterRef("pk")).order_by("-history_date", "-history_id")
    return (
        cast(type[ClinicalRecord], model)
        .objects.active()
        .select_related("updated_by")
        .annotate(last_change_reason=Subquery(history.values("history_change_reason")[:1]))
    )


def patients_for_export(user) -> QuerySet[Patient]:
    """Active patients the user may read (all of them for ``trials.access.SYSTEM``: a command-line export), with every
    form's records."""
    base = with_last_reason(Patient).select_related("site")
    patients = scope_queryset(user, base)
    visits = with_last_reason(Visit).prefetch_related(
        Prefetch("pain", queryset=with_last_reason(PainAssessment)),
        active_medications_prefetch(with_last_reason(MedicationUse).order_by("repeat_instance", "id")),
        Prefetch(
            "signatures", queryset=Signature.objects.select_related("signer").order_by("-signed_at"), to_attr="x_signatures"
        ),
    )
    return patients.order_by("study_id").prefetch_related(
        Prefetch("lesions", queryset=with_last_reason(Lesion).order_by("repeat_instance", "id"), to_attr="x_lesions"),
        Prefetch("procedures", queryset=with_last_reason(Procedure).order_by("procedure_date", "id"), to_attr="x_procedures"),
        Prefetch(
            "radiation_courses",
            queryset=with_last_reason(RadiationCourse).order_by("repeat_instance", "id"),
            to_attr="x_radiation",
        ),
        Prefetch("visits", queryset=visits.order_by("target_date"), to_attr="x_visits"),
        Prefetch("adverse_events", queryset=with_last_reason(AdverseEvent).order_by("repeat_instance", "id"), to_attr="x_aes"),
        Prefetch("skeletal_events", queryset=with_last_reason(SkeletalEvent).order_by("repeat_instance", "id"), to_attr="x_sres"),
        Prefetch(
            "imaging_assessments",
            queryset=with_last_reason(ImagingAssessment).order_by("repeat_instance", "id"),
            to_attr="x_imaging",
        ),
        Prefetch("exits", queryset=with_last_reason(StudyExit), to_attr="x_exits"),
    )


def visit_of(patient: Patient, visit_code: str) -> Visit | None:
    return next((v for v in patient.x_visits if v.visit_code == visit_code), None)  # type: ignore[attr-defined]  # Prefetch to_attr


def _active_pain(visit: Visit) -> list[PainAssessment]:
    """The visit's BPI record; a visit whose BPI items are all coded or blank has none saved, so when it holds
    missing-data codes an unsaved, empty record stands in (stamped with the visit's audit fields) to carry them."""
    try:
        pain = visit.pain
    except PainAssessment.DoesNotExist:
        pain = None
    if pain is not None:
        return [pain] if pain.voided_at is None else []
    if visit.missing_codes:
        return [PainAssessment(visit=visit, updated_by=visit.updated_by, updated_at=visit.updated_at)]
    return []


def form_records(patient: Patient, form: Form, event: Event) -> list[Model]:
    """The records that fill ``form`` at ``event`` for this patient (several for a repeating form)."""
    if event.visit_code:
        visit = visit_of(patient, event.visit_code)
        if visit is None or (visit.visit_date is None and not visit.is_not_done):
            return []  # a visit not done carries only its reason (the visit form); BPI and opioids stay empty
        by_form: dict[str, Sequence[Model]] = {
            "visit": [visit],
            "bpi": _active_pain(visit),
            "opioid": list(getattr(visit, ACTIVE_MEDICATIONS)),  # the export keeps the source's instance order
        }
        return list(by_form[form.name])
    return {
        "registration": [patient],
        "lesion": patient.x_lesions,  # type: ignore[attr-defined]  # Prefetch to_attr
        "procedure": patient.x_procedures,  # type: ignore[attr-defined]  # Prefetch to_attr
        "radiation": patient.x_radiation,  # type: ignore[attr-defined]  # Prefetch to_attr
        "adverse_event": patient.x_aes,  # type: ignore[attr-defined]  # Prefetch to_attr
        "skeletal_event": patient.x_sres,  # type: ignore[attr-defined]  # Prefetch to_attr
        "imaging": patient.x_imaging,  # type: ignore[attr-defined]  # Prefetch to_attr
        "study_exit": patient.x_exits,  # type: ignore[attr-defined]  # Prefetch to_attr
    }[form.name]


def item_code(record: Model, item: Item) -> str | None:
    """The missing-data code (``trials.domain.missing``: NASK, UNK, NA, ASKU) of a blank BPI item, else None.

    Codes are kept on the visit (``Visit.missing_codes``, {item: code}); only BPI items carry them.
    """
    if not isinstance(record, PainAssessment):
        return None
    return (record.visit.missing_codes or {}).get(item.name) or None


def item_value(record: Model, item: Item) -> str | None:
    """The exchange representation: ISO dates, 1/0 for yes/no, plain decimals; None when missing.

    Text passes ``export_text``: a control character stored before the input rule (issue 13) is shown
    as U+FFFD instead of making the file unreadable (XML) or corrupt.
    """
    value = getattr(record, item.name)
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")
    return export_text(str(value))
