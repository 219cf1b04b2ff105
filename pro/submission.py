"""Saving and submitting a patient's answers (issue 15 §4–5).

``response_save`` keeps a draft (partial answers, resumable with the same link); ``questionnaire_submit`` submits
every instrument of the invitation in one transaction, stops the reminders, logs it, and hands the answers to the
record through ``apply_patient_submission`` → ``trials.services.patient_reports.visit_patient_report_apply`` (the
visit's BPI and opioid answers with source "patient", or data queries where staff already entered other values).
"""

from __future__ import annotations

import logging
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from pro.models import EventKind, Invitation, InvitationStatus, QuestionnaireResponse, ResponseStatus, StopReason
from pro.services import log_event
from trials.domain import mme
from trials.errors import DomainValidationError
from trials.models import OpioidStatus
from trials.services.patient_reports import ApplyOutcome, PatientReport, visit_patient_report_apply
from trials.services.visits import PAIN_FIELDS

logger = logging.getLogger(__name__)

BPI_CODE, OPIOID_CODE = "bpi_sf", "opioid_self_report"
# A patch is worn on the skin; every other answer of the self-report is taken by mouth (the form asks no route).
TRANSDERMAL_DRUGS = {"fentanyl"}


@transaction.atomic
def response_save(*, invitation: Invitation, instrument, answers: dict, language: str) -> QuestionnaireResponse:
    """Store the patient's answers to one instrument as a draft (replacing the earlier draft's answers)."""
    response, _ = QuestionnaireResponse.objects.select_for_update().get_or_create(invitation=invitation, instrument=instrument)
    if response.status == ResponseStatus.SUBMITTED:
        raise DomainValidationError({"answers": "This questionnaire was already submitted."})
    response.answers, response.language, response.saved_at = answers, language, timezone.now()
    response.save(update_fields=["answers", "language", "saved_at"])
    return response


def invitation_opened(invitation: Invitation) -> None:
    """The first opening of the link: logged once, the invitation marked opened."""
    now = timezone.now()
    updated = Invitation.objects.filter(pk=invitation.pk, opened_at__isnull=True).update(
        opened_at=now, status=InvitationStatus.OPENED
    )
    if updated:
        invitation.opened_at, invitation.status = now, InvitationStatus.OPENED
        log_event(invitation, EventKind.OPENED, at=now)


@transaction.atomic
def questionnaire_submit(*, invitation: Invitation, language: str) -> ApplyOutcome | None:
    """Submit every response of the invitation (drafts become submitted), stop the reminders, apply to the record.

    Returns what happened in the record (``None`` when the record could not take the answers: the reason is in the
    invitation's log for the site). Raises ``DomainValidationError`` when the invitation was already submitted."""
    invitation = Invitation.objects.select_for_update().get(pk=invitation.pk)
    if invitation.status == InvitationStatus.SUBMITTED:
        raise DomainValidationError({"answers": "This questionnaire was already submitted."})
    now = timezone.now()
    responses = list(invitation.responses.select_related("instrument"))
    for response in responses:
        response.status, response.submitted_at, response.language = ResponseStatus.SUBMITTED, now, language
        response.save(update_fields=["status", "submitted_at", "language"])
    invitation.status, invitation.submitted_at = InvitationStatus.SUBMITTED, now
    invitation.reminders_stopped_at, invitation.stop_reason = now, StopReason.SUBMITTED
    invitation.save(update_fields=["status", "submitted_at", "reminders_stopped_at", "stop_reason"])
    log_event(invitation, EventKind.SUBMITTED, at=now)
    log_event(invitation, EventKind.STOPPED, at=now, detail=StopReason.SUBMITTED.label)
    if not responses:
        return None
    try:
        with transaction.atomic():
            return apply_patient_submission(responses[0])
    except DomainValidationError as exc:
        fields = ", ".join(sorted(exc.errors))
        log_event(
            invitation, EventKind.SUBMITTED, at=now, detail=f"Not written to the visit (rule on {fields}); enter it by hand."
        )
        logger.warning("Questionnaire of invitation %s not applied to its visit: rule on %s", invitation.pk, fields)
        return None


def apply_patient_submission(response: QuestionnaireResponse) -> ApplyOutcome:
    """Put the submitted answers of ``response``'s invitation (its BPI and opioid self-report together) into the visit.

    BPI items keep their codes (``trials.services.visits.PAIN_FIELDS``); the opioid answer becomes "taking" with one
    row per medicine (route: transdermal for a fentanyl patch, oral otherwise) or "none". A medicine the MME table
    does not know (e.g. "another opioid") cannot become a row: the opioid answer stays "not recorded" and a data
    query carries the patient's words. See ``visit_patient_report_apply`` for staff-entered visits."""
    invitation = response.invitation
    submitted = {r.instrument.code: r for r in invitation.responses.select_related("instrument") if r.submitted_at}
    bpi = submitted.get(BPI_CODE)
    opioids = submitted.get(OPIOID_CODE)
    pain = {item: (bpi.answers or {}).get(item) for item in PAIN_FIELDS} if bpi else {}
    status, rows, note = _opioid_answer((opioids.answers or {}) if opioids else {})
    when = max(r.submitted_at for r in submitted.values() if r.submitted_at is not None)
    report = PatientReport(
        pain={k: v for k, v in pain.items() if v is not None},
        submitted_at=when,
        reference=f"questionnaire by link, invitation #{invitation.pk}",
        opioid_status=status,
        medications=rows,
        opioid_note=note,
    )
    return visit_patient_report_apply(visit=invitation.visit, report=report)


def _opioid_answer(answers: dict) -> tuple[str, list[dict], str]:
    use = answers.get("opioid_use")
    if use == "none":
        return OpioidStatus.NONE, [], ""
    if use != "taking":
        return OpioidStatus.UNKNOWN, [], ""
    rows, unknown = [], []
    for entry in answers.get("medicines") or []:
        row = {
            "drug": entry.get("drug"),
            "route": "transdermal" if entry.get("drug") in TRANSDERMAL_DRUGS or entry.get("unit") == "mcg/h" else "oral",
            "dose": Decimal(str(entry.get("strength"))),
            "unit": entry.get("unit"),
            "doses_per_day": Decimal(str(entry.get("doses_per_day") or 1)),
        }
        try:
            mme.mme_per_day(**row)
        except (mme.MMEError, TypeError, ValueError):
            unknown.append(f"{row['drug']} {row['dose']} {row['unit']} × {row['doses_per_day']}/day")
            continue
        rows.append(row)
    if unknown or not rows:
        said = "; ".join(unknown) or "taking opioids, no medicine named"
        return OpioidStatus.UNKNOWN, [], f"the patient said: {said}."
    return OpioidStatus.TAKING, rows, ""
