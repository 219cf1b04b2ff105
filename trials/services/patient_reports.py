"""Patient-reported answers into the record, with provenance (issue 15, "Into the record").

A questionnaire a patient submits by link (``pro``) reaches the visit through ``visit_patient_report_apply``:
the visit's BPI and opioid answers are written by ``visit_record`` — the same rules, transaction and audit as
the coordinator's form — stamped with source "patient" and the submission time, under the patient actor
(``patient_actor``), so every audit row says the patient gave the values. When site staff already entered the
visit, nothing is overwritten: each answer that differs opens a data query (rule ``patient_report_differs``)
for the site to confirm or correct through the ordinary query workflow.

The patient's opioid answers count as MME only after staff review them (``visit_opioid_review``, or a staff
correction of the answers, which is a review too); analytics leaves unreviewed patient opioid answers out of
OMED (docs/analytics-methods.md, "Patient-reported outcomes").
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.contenttypes.models import ContentType
from django.db import transaction
from django.utils import timezone

from trials.access import SYSTEM, Access, require_site_write
from trials.errors import DomainValidationError
from trials.models import AnswerSource, DataQuery, OpioidStatus, PainAssessment, Visit
from trials.selectors import active_medications
from trials.services.data_query_rules import Finding, automatic_query_open
from trials.services.records import check_version, save_audited
from trials.services.visits import PAIN_FIELDS, Provenance, VisitData, medication_input, visit_record

PATIENT_ACTOR_USERNAME = "patient-self-report"
RULE_PATIENT_REPORT_DIFFERS = "patient_report_differs"


def patient_actor():
    """The user the audit names for answers a patient submitted by link: ``patient-self-report``.

    It cannot log in (inactive, unusable password) and holds no membership; it writes with the registry's
    own rights (``trials.access.SYSTEM``) because the link, not a login, authorised the patient.
    """
    user, created = get_user_model().objects.get_or_create(
        username=PATIENT_ACTOR_USERNAME,
        defaults={"is_active": False, "first_name": "Patient", "last_name": "(self-report by link)"},
    )
    if created:
        user.set_unusable_password()
        user.save(update_fields=["password"])
    user._registry_access = Access(SYSTEM)
    return user


@dataclass(frozen=True)
class PatientReport:
    """The answers of one submitted questionnaire, in the record's terms.

    ``pain``: BPI items (``trials.services.visits.PAIN_FIELDS``) → 0–10 (relief 0–100) or None when skipped.
    ``opioid_status``: "none" / "taking" / "unknown" (not answered); ``medications``: opioid rows as
    ``visit_record`` takes them (drug, route, dose, unit, doses_per_day). ``submitted_at``: aware datetime.
    ``reference``: names the questionnaire response in the audit and in query messages.
    """

    pain: dict[str, int | None]
    submitted_at: dt.datetime
    reference: str
    opioid_status: str = OpioidStatus.UNKNOWN
    medications: list[dict[str, Any]] = field(default_factory=list)
    # The patient's opioid answer in words when it cannot become opioid rows (an opioid the MME table does not
    # know): the answers go in as "not recorded" and a query asks staff to enter them.
    opioid_note: str = ""


@dataclass(frozen=True)
class ApplyOutcome:
    """What happened: ``applied`` (the visit now holds the patient's answers) or queries opened instead."""

    applied: bool
    queries: list[DataQuery]


def _item_label(item: str) -> str:
    return str(getattr(PainAssessment._meta.get_field(item), "verbose_name", item))


def _shown(value: Any) -> str:
    return "blank" if value in (None, "") else str(value)


def _differences(visit: Visit, report: PatientReport) -> list[Finding]:
    """One finding per answer the patient gave that differs from what staff recorded."""
    pain = getattr(visit, "pain", None)
    when = timezone.localtime(report.submitted_at).strftime("%Y-%m-%d %H:%M %Z")
    findings = []
    answered_items = {item: value for item, value in report.pain.items() if value is not None}
    if pain is None and answered_items:
        # Staff entered the visit without a BPI: the patient's scores have no recorded value to query, so the visit is.
        findings.append(
            Finding(
                RULE_PATIENT_REPORT_DIFFERS,
                visit,
                "visit_date",
                f"The patient answered the Brief Pain Inventory ({report.reference}, submitted {when}) but staff recorded "
                f"this visit without it: {', '.join(f'{k} {v}' for k, v in answered_items.items())}. "
                "Enter the scores with a reason, or answer why not.",
            )
        )
    for item, value in answered_items.items():
        recorded = getattr(pain, item) if pain is not None else None
        if pain is not None and value != recorded:
            findings.append(
                Finding(
                    RULE_PATIENT_REPORT_DIFFERS,
                    pain,
                    item,
                    f"The patient answered {_shown(value)} for {_item_label(item)} "
                    f"({report.reference}, submitted {when}); staff recorded {_shown(recorded)}. "
                    "Confirm the recorded value or correct it with a reason.",
                )
            )
    staff_rows = [medication_input(m) for m in active_medications(visit)]
    answered = report.opioid_status != OpioidStatus.UNKNOWN
    if answered and (report.opioid_status != visit.opioid_status or _med_keys(staff_rows) != _med_keys(report.medications)):
        staff = visit.get_opioid_status_display().lower() + (f" {_med_list(staff_rows)}" if staff_rows else "")
        patient = OpioidStatus(report.opioid_status).label.lower() + (
            f" {_med_list(report.medications)}" if report.medications else ""
        )
        findings.append(
            Finding(
                RULE_PATIENT_REPORT_DIFFERS,
                visit,
                "opioid_status",
                f"The patient's opioid answers ({report.reference}, submitted {when}) differ from what staff recorded: "
                f"patient {patient}; staff {staff}. Confirm or correct with a reason.",
            )
        )
    return findings


def _med_keys(meds: list[dict[str, Any]]) -> list[tuple]:
    """Opioid rows compared on what a patient answers: medicine, route, strength, unit and doses a day."""
    return sorted(
        (m["drug"], m["route"], Decimal(str(m["dose"])), m["unit"], Decimal(str(m.get("doses_per_day") or 1))) for m in meds
    )


def _med_list(meds: list[dict[str, Any]]) -> str:
    return (
        "(" + "; ".join(f"{m['drug']} {m['route']} {m['dose']} {m['unit']} × {m.get('doses_per_day') or 1}/d" for m in meds) + ")"
    )


@transaction.atomic
def visit_patient_report_apply(*, visit: Visit, report: PatientReport) -> ApplyOutcome:
    """Fill ``visit``'s BPI and opioid answers from a patient's submitted questionnaire, or query the differences.

    - Visit without data: ``visit_record`` writes the answers (visit date = the submission's date at the
      site, in its time zone) with ``Provenance("patient", submitted_at)``, actor ``patient_actor()``.
    - Visit already entered by staff (or recorded as not done): nothing is overwritten; each differing answer
      opens one data query (``patient_report_differs``) on the recorded value. Identical answers open nothing.

    Raises ``DomainValidationError`` (field-named) when the answers break a rule of ``visit_record``.
    """
    visit = Visit.objects.select_for_update(of=("self",)).select_related("patient__site", "pain").get(pk=visit.pk)
    if visit.is_voided:
        raise DomainValidationError({"visit": "This visit is voided."})
    if visit.has_data or visit.is_not_done:
        content_types: dict[type, ContentType] = {}
        queries = []
        for finding in _differences(visit, report):
            kind = type(finding.record)
            content_type = content_types.setdefault(kind, ContentType.objects.get_for_model(kind))
            query = automatic_query_open(finding, visit.patient_id, content_type)
            if query is not None:
                queries.append(query)
        return ApplyOutcome(applied=False, queries=queries)
    data = VisitData.from_visit(visit).with_changes(
        visit_date=visit.patient.site.local_date(report.submitted_at),
        pain={item: report.pain.get(item) for item in PAIN_FIELDS if item in report.pain},
        opioid_status=report.opioid_status,
        medications=report.medications,
    )
    provenance = Provenance(AnswerSource.PATIENT, report.submitted_at, report.reference)
    reason = f"Patient self-report by link ({report.reference})"[:100]
    visit_record(actor=patient_actor(), visit=visit, data=data, reason=reason, provenance=provenance)
    queries = []
    if report.opioid_note:
        finding = Finding(
            RULE_PATIENT_REPORT_DIFFERS,
            visit,
            "opioid_status",
            f"The patient's opioid answers ({report.reference}) could not be recorded as opioid rows: {report.opioid_note} "
            "Enter them on the visit form with a reason.",
        )
        query = automatic_query_open(finding, visit.patient_id, ContentType.objects.get_for_model(Visit))
        queries = [query] if query is not None else []
    return ApplyOutcome(applied=True, queries=queries)


@transaction.atomic
def visit_opioid_review(*, actor, visit: Visit, expected_version: int | None = None) -> Visit:
    """A coordinator confirms the patient's opioid answers as recorded: from now on they count as MME.

    To change them instead, correct the visit with a reason (``visit_record``): that correction is the review.
    Raises ``PermissionDenied`` outside the actor's sites, ``DomainValidationError`` when there is nothing to review.
    """
    require_site_write(actor, visit.patient.site_id)
    visit = Visit.objects.select_for_update(of=("self",)).select_related("patient").get(pk=visit.pk)
    check_version(visit, expected_version)
    if not visit.opioid_review_pending:
        raise DomainValidationError({"opioid_status": "There are no patient-reported opioid answers waiting for review."})
    visit.opioid_reviewed_at, visit.opioid_reviewed_by = timezone.now(), actor
    visit.version += 1
    save_audited(visit, actor=actor, reason="Patient-reported opioid answers reviewed by staff")
    return visit
