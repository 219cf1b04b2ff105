"""Automatic data-quality rules that open queries (issue 6).

Each rule looks at one patient's data and returns findings; ``data_queries_run_rules``
turns findings into open queries, never duplicating one: a rule does not raise a
second query on the same record and field while one exists (open, answered — or
closed, because a data manager already ruled on it).

Every service that changes a patient's clinical data ends with an explicit
``rules_run_after_commit(patient)``: the rules run once per service call (once per
transaction), after it commits — never from inside ``save_audited``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from decimal import Decimal

from django.contrib.contenttypes.models import ContentType
from django.db import IntegrityError, models, transaction
from django.db.models import Prefetch

from trials.models import (
    DataQuery,
    DataQueryResponse,
    ExitType,
    Lesion,
    Patient,
    QueryAction,
    Region,
    StudyExit,
    Visit,
)
from trials.selectors import active_medications, visits_with_pain_and_medications

logger = logging.getLogger(__name__)

# Thresholds of the built-in rules (issue 6); OMED per docs/domain.md §5, pain per §3.
PAIN_JUMP_THRESHOLD = 4
OMED_LIMIT_MME_PER_DAY = Decimal("500")
SINS_COMPONENT_FIELDS = ("spine_level", "lesion_type", "sins_pain", "sins_alignment", "sins_collapse", "sins_posterolateral")

RULE_OUT_OF_WINDOW = "visit_out_of_window"
RULE_PAIN_JUMP = "worst_pain_increase"
RULE_OMED = "omed_over_500"
RULE_SINS = "sins_incomplete"
RULE_AFTER_DEATH = "visit_after_death"


@dataclass(frozen=True)
class Finding:
    rule_code: str
    record: models.Model
    field_name: str
    message: str


def _completed_visits(patient: Patient) -> list[Visit]:
    return sorted((v for v in patient.rule_visits if v.visit_date is not None), key=lambda v: (v.visit_date, v.target_date))  # type: ignore[attr-defined]  # Prefetch to_attr


# How the SINS components are named to people (Fisher et al., Spine 2010: location, pain, bone lesion quality,
# alignment, vertebral body collapse, posterolateral involvement of spinal elements).
SINS_COMPONENT_LABELS = {
    "spine_level": "location (spine level)",
    "lesion_type": "bone lesion quality",
    "sins_pain": "pain",
    "sins_alignment": "alignment",
    "sins_collapse": "vertebral body collapse",
    "sins_posterolateral": "posterolateral involvement",
}


def _day(date) -> str:
    """A date as the pages show it: 29 Nov 2026."""
    return f"{date.day} {date:%b %Y}"


def rule_out_of_window(patient: Patient) -> list[Finding]:
    return [
        Finding(
            RULE_OUT_OF_WINDOW,
            v,
            "visit_date",
            f"{v.get_visit_code_display()} was recorded on {_day(v.visit_date)}, outside its window "
            f"({_day(v.window_start)} to {_day(v.window_end)}). Confirm the date or correct it.",
        )
        for v in _completed_visits(patient)
        if v.out_of_window
    ]


def rule_pain_jump(patient: Patient) -> list[Finding]:
    findings, previous = [], None
    for visit in _completed_visits(patient):
        pain = getattr(visit, "pain", None)
        if pain is None or pain.voided_at is not None or pain.worst is None:
            continue
        if previous is not None and pain.worst - previous.worst >= PAIN_JUMP_THRESHOLD:
            findings.append(
                Finding(
                    RULE_PAIN_JUMP,
                    pain,
                    "worst",
                    f"Worst pain rose from {previous.worst} ({previous.visit.get_visit_code_display()}) to {pain.worst} "
                    f"({visit.get_visit_code_display()}), an increase of {PAIN_JUMP_THRESHOLD} or more. Please confirm.",
                )
            )
        previous = pain
    return findings


def rule_omed(patient: Patient) -> list[Finding]:
    findings = []
    for visit in _completed_visits(patient):
        omed = visit.omed(active_medications(visit))
        if omed is not None and omed > OMED_LIMIT_MME_PER_DAY:
            findings.append(
                Finding(
                    RULE_OMED,
                    visit,
                    "medications",
                    f"OMED at {visit.get_visit_code_display()} is {omed} MME/day, above {OMED_LIMIT_MME_PER_DAY} "
                    "MME/day, which is unusually high. Check doses, units and doses per day.",
                )
            )
    return findings


def rule_sins_incomplete(patient: Patient) -> list[Finding]:
    findings = []
    for lesion in patient.rule_lesions:  # type: ignore[attr-defined]  # Prefetch to_attr
        if lesion.region != Region.SPINE:
            continue
        missing = [f for f in SINS_COMPONENT_FIELDS if not getattr(lesion, f)]
        if missing:
            findings.append(
                Finding(
                    RULE_SINS,
                    lesion,
                    missing[0],
                    f"Spine lesion {lesion.spine_level or '(no level)'} is missing SINS component(s): "
                    f"{', '.join(SINS_COMPONENT_LABELS[f] for f in missing)} "
                    "(the SINS total needs all six components).",
                )
            )
    return findings


def rule_visit_after_death(patient: Patient) -> list[Finding]:
    deaths = [e for e in patient.rule_exits if e.exit_type == ExitType.DEATH]  # type: ignore[attr-defined]  # Prefetch to_attr
    if not deaths:
        return []
    death = deaths[0]
    return [
        Finding(
            RULE_AFTER_DEATH,
            v,
            "visit_date",
            f"{v.get_visit_code_display()} is dated {_day(v.visit_date)}, after the patient's death on {_day(death.exit_date)}.",
        )
        for v in _completed_visits(patient)
        if v.visit_date > death.exit_date
    ]


RULES: tuple[Callable[[Patient], list[Finding]], ...] = (
    rule_out_of_window,
    rule_pain_jump,
    rule_omed,
    rule_sins_incomplete,
    rule_visit_after_death,
)


def _patients_for_rules(patient_ids: Iterable[int] | None):
    visits = visits_with_pain_and_medications(Visit.objects.active().select_related("patient"))
    qs = Patient.objects.active().prefetch_related(
        Prefetch("visits", queryset=visits, to_attr="rule_visits"),
        Prefetch("lesions", queryset=Lesion.objects.active(), to_attr="rule_lesions"),
        Prefetch("exits", queryset=StudyExit.objects.active(), to_attr="rule_exits"),
    )
    if patient_ids is not None:
        qs = qs.filter(pk__in=list(patient_ids))
    return qs.order_by("pk")


def _existing_keys(patient_ids: list[int]) -> set[tuple]:
    rows = DataQuery.objects.filter(patient_id__in=patient_ids).exclude(rule_code="")
    return set(rows.values_list("content_type_id", "object_id", "field_name", "rule_code"))


def automatic_query_open(finding: Finding, patient_id: int, content_type: ContentType) -> DataQuery | None:
    """Open the finding's query; ``None`` when a concurrent rule run (another writer's service on the same patient)
    opened the same unresolved query first: the ``dataquery_one_unresolved_per_rule`` constraint decides, in a
    savepoint so the rest of the batch goes on."""
    query = DataQuery(
        content_type=content_type,
        object_id=finding.record.pk,
        field_name=finding.field_name,
        patient_id=patient_id,
        message=finding.message,
        rule_code=finding.rule_code,
    )
    query._change_reason = "Opened by an automatic data check"  # type: ignore[attr-defined]
    try:
        with transaction.atomic():
            query.save()
            DataQueryResponse.objects.create(query=query, action=QueryAction.OPEN, message=finding.message)
    except IntegrityError:
        return None
    return query


def data_queries_run_rules(*, patient_ids: Iterable[int] | None = None, batch_size: int = 200) -> list[DataQuery]:
    """Run every rule (for some patients, or all) and open the queries not raised before. Idempotent."""
    created: list[DataQuery] = []
    batch: list[Patient] = []
    for patient in _patients_for_rules(patient_ids).iterator(chunk_size=batch_size):
        batch.append(patient)
        if len(batch) >= batch_size:
            created += _run_batch(batch)
            batch = []
    if batch:
        created += _run_batch(batch)
    return created


@transaction.atomic
def _run_batch(patients: list[Patient]) -> list[DataQuery]:
    existing = _existing_keys([p.pk for p in patients])
    created = []
    for patient in patients:
        for rule in RULES:
            for finding in rule(patient):
                content_type = ContentType.objects.get_for_model(type(finding.record))
                key = (content_type.pk, finding.record.pk, finding.field_name, finding.rule_code)
                if key in existing:
                    continue
                existing.add(key)
                query = automatic_query_open(finding, patient.pk, content_type)
                if query is not None:
                    created.append(query)
    return created


class _PendingRun:
    """One run of the rule set after commit, for every patient the transaction's services named."""

    def __init__(self) -> None:
        self.patient_ids: set[int] = set()

    def __call__(self) -> None:
        data_queries_run_rules(patient_ids=sorted(self.patient_ids))


def rules_run_after_commit(patient: Patient | int | None) -> None:
    """Last step of every service that changes a patient's clinical data: run the patient's automatic rules
    once, after the outermost transaction commits (immediately when no transaction is open).

    A service nested in another (a data-query correction calling ``visit_record``, a procedure moving day 0
    through ``patient_reschedule``) joins the run its inner service registered, so the outer call still runs
    the rules once. A run registered at an outer level is not joined: it belongs to an earlier service.
    """
    patient_id = patient if patient is None or isinstance(patient, int) else patient.pk
    if patient_id is None:
        return
    connection = transaction.get_connection()
    if connection.in_atomic_block:
        current = set(connection.savepoint_ids)
        for savepoints, callback, _robust in connection.run_on_commit:
            # Registered at this level or in a service nested inside it (its own savepoints since released).
            if isinstance(callback, _PendingRun) and savepoints >= current:
                callback.patient_ids.add(patient_id)
                return
    run = _PendingRun()
    run.patient_ids.add(patient_id)
    transaction.on_commit(run, robust=True)
