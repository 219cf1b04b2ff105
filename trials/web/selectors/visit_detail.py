"""Everything shown on the read-only visit page: values with labels, open queries per field, signatures, lock."""

from __future__ import annotations

from dataclasses import dataclass, field

from django.contrib.contenttypes.models import ContentType
from django.db.models import Q

from trials.domain import bpi
from trials.models import DataQuery, Lock, MedicationUse, PainAssessment, QueryStatus, Signature, Visit
from trials.selectors import active_medications
from trials.services.locking import active_lock_for
from trials.web.labels import FIELD_LABELS, value_label


@dataclass
class ValueRow:
    """One displayed value, with the record/field a query on it refers to and that field's unresolved queries."""

    label: str
    value: str
    record_type: str
    object_id: int | None
    field_name: str
    queries: list[DataQuery] = field(default_factory=list)


@dataclass
class VisitView:
    visit: Visit
    visit_rows: list[ValueRow]
    intensity_rows: list[ValueRow]
    interference_rows: list[ValueRow]
    relief_row: ValueRow | None
    interference_score: float | None
    medications: list[MedicationUse]
    medication_queries: dict[int, list[DataQuery]]
    open_queries: list[DataQuery]
    signatures: list[Signature]
    current_signatures: list[Signature]
    needs_resignature: bool
    lock: Lock | None


def _rows(model, instance, names, record_type: str) -> list[ValueRow]:
    object_id = None if instance is None else instance.pk
    return [
        ValueRow(
            FIELD_LABELS.get(name, str(model._meta.get_field(name).verbose_name).capitalize()),
            "—" if instance is None or getattr(instance, name) is None else value_label(model, name, getattr(instance, name)),
            record_type,
            object_id,
            name,
        )
        for name in names
    ]


def visit_view(visit: Visit) -> VisitView:
    """Assemble the page for ``visit`` (from ``selectors.patients.visit_get``) in a fixed number of queries."""
    pain = getattr(visit, "pain", None)
    meds = active_medications(visit)
    visit_rows = _rows(Visit, visit, ["visit_date", "opioid_status"], "visit")
    intensity = _rows(PainAssessment, pain, bpi.INTENSITY_ITEMS, "painassessment")
    interference = _rows(PainAssessment, pain, bpi.INTERFERENCE_ITEMS, "painassessment")
    relief = _rows(PainAssessment, pain, ["relief_pct"], "painassessment")[0]
    for row in [*intensity, *interference, relief]:  # a blank item with a missing-data code says why
        code_label = visit.missing_code_label(row.field_name)
        if row.value == "—" and code_label:
            row.value = code_label
    if visit.is_not_done:
        visit_rows.append(ValueRow("Visit not done", visit.not_done_reason, "visit", visit.pk, "not_done_reason"))

    types = ContentType.objects.get_for_models(Visit, PainAssessment, MedicationUse)
    records = Q(content_type=types[Visit], object_id=visit.pk) | Q(
        content_type=types[MedicationUse], object_id__in=[m.pk for m in meds]
    )
    if pain is not None:
        records |= Q(content_type=types[PainAssessment], object_id=pain.pk)
    queries = list(
        DataQuery.objects.filter(records)
        .exclude(status=QueryStatus.CLOSED)
        .select_related("content_type", "opened_by")
        .order_by("opened_at")
    )
    by_key: dict[tuple[str, int, str], list[DataQuery]] = {}
    for query in queries:
        by_key.setdefault((query.content_type.model, query.object_id, query.field_name), []).append(query)
    for row in [*visit_rows, *intensity, *interference, relief]:
        if row.object_id is not None:
            row.queries = by_key.get((row.record_type, row.object_id, row.field_name), [])
    medication_queries = {
        m.pk: [q for q in queries if q.content_type.model == "medicationuse" and q.object_id == m.pk] for m in meds
    }

    signatures = list(visit.signatures.select_related("signer").order_by("-signed_at"))
    current = [s for s in signatures if s.invalidated_at is None and s.visit_version == visit.version]
    return VisitView(
        visit=visit,
        visit_rows=visit_rows,
        intensity_rows=intensity,
        interference_rows=interference,
        relief_row=relief,
        interference_score=None if pain is None else pain.interference_score,
        medications=meds,
        medication_queries=medication_queries,
        open_queries=queries,
        signatures=signatures,
        current_signatures=current,
        needs_resignature=bool(signatures) and not current,
        lock=active_lock_for(visit.patient_id, visit.patient.site_id),
    )
