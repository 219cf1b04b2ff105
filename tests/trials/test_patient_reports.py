"""Patient-reported answers into the record (issue 15): provenance, queries instead of overwriting, opioid review."""

import datetime as dt
from decimal import Decimal

import pytest
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import PermissionDenied
from django.utils import timezone

from tests.factories import visit_data
from trials import services
from trials.errors import DomainValidationError
from trials.models import AnswerSource, DataQuery, PainAssessment, QueryStatus, Visit
from trials.services.data_queries import data_query_correct
from trials.services.patient_reports import (
    PATIENT_ACTOR_USERNAME,
    RULE_PATIENT_REPORT_DIFFERS,
    PatientReport,
    visit_opioid_review,
    visit_patient_report_apply,
)

pytestmark = pytest.mark.django_db

OXY = {"drug": "oxycodone", "route": "oral", "dose": "10", "unit": "mg", "doses_per_day": "2"}
BPI = {"worst": 6, "least": 2, "average": 4, "current": 3, "general_activity": 5, "mood": 4, "walking_ability": 6, "sleep": 3}


def week1(patient) -> Visit:
    return Visit.objects.get(patient=patient, visit_code="week1")


def report(**overrides) -> PatientReport:
    values = {
        "pain": dict(BPI),
        "submitted_at": timezone.now() - dt.timedelta(hours=2),
        "reference": "questionnaire response #7",
        "opioid_status": "taking",
        "medications": [OXY],
    }
    return PatientReport(**{**values, **overrides})


def test_submission_fills_bpi_and_opioids_with_patient_source_and_time(patient):
    visit = week1(patient)
    sent = report()
    outcome = visit_patient_report_apply(visit=visit, report=sent)
    assert outcome.applied and outcome.queries == []
    visit.refresh_from_db()
    pain = PainAssessment.objects.get(visit=visit)
    assert (pain.worst, pain.sleep, pain.normal_work) == (6, 3, None)
    assert pain.source == AnswerSource.PATIENT and pain.submitted_at == sent.submitted_at
    assert visit.opioid_source == AnswerSource.PATIENT and visit.opioid_submitted_at == sent.submitted_at
    assert visit.visit_date == patient.site.local_date(sent.submitted_at)
    assert visit.omed() == Decimal("30.00")  # oxycodone 10 mg × 2/d × 1.5 (CDC 2022)
    assert visit.opioid_review_pending


def test_the_audit_names_the_patient_actor_and_the_questionnaire(patient):
    visit = week1(patient)
    visit_patient_report_apply(visit=visit, report=report())
    for record in (Visit.objects.get(pk=visit.pk), PainAssessment.objects.get(visit=visit)):
        latest = record.history.latest()
        assert latest.history_user.username == PATIENT_ACTOR_USERNAME
        assert latest.history_change_reason == "Patient self-report by link (questionnaire response #7)"
    actor = Visit.objects.get(pk=visit.pk).updated_by
    assert not actor.is_active and not actor.has_usable_password()  # the audit's actor cannot log in


def test_staff_values_are_not_overwritten_a_query_opens_per_difference(patient, coordinator):
    visit = week1(patient)
    services.visit_record(actor=coordinator, visit=visit, data=visit_data(visit.target_date, worst=4, meds=[OXY]))
    outcome = visit_patient_report_apply(visit=week1(patient), report=report(medications=[{**OXY, "dose": "20"}]))
    assert not outcome.applied
    pain = PainAssessment.objects.get(visit=visit)
    assert (pain.worst, pain.source) == (4, AnswerSource.STAFF)  # unchanged
    # worst 6 vs 4, least 2 vs 1, average 4 vs 3, current 3 vs 2, four interference items against blanks, the dose.
    assert sorted(q.field_name for q in outcome.queries) == sorted([*BPI, "opioid_status"])
    worst = next(q for q in outcome.queries if q.field_name == "worst")
    assert worst.rule_code == RULE_PATIENT_REPORT_DIFFERS and worst.status == QueryStatus.OPEN
    assert "The patient answered 6 for Worst pain in the last 24 hours" in worst.message and "staff recorded 4" in worst.message
    opioid = next(q for q in outcome.queries if q.field_name == "opioid_status")
    assert opioid.content_type == ContentType.objects.get_for_model(Visit) and "20" in opioid.message


def test_identical_answers_open_nothing_and_a_second_submission_does_not_duplicate(patient, coordinator):
    visit = week1(patient)
    services.visit_record(
        actor=coordinator,
        visit=visit,
        data=services.VisitData(visit_date=visit.target_date, pain=dict(BPI), opioid_status="taking", medications=[OXY]),
    )
    assert visit_patient_report_apply(visit=visit, report=report()).queries == []
    first = visit_patient_report_apply(visit=visit, report=report(pain={**BPI, "worst": 9}))
    again = visit_patient_report_apply(visit=visit, report=report(pain={**BPI, "worst": 9}))
    assert [q.field_name for q in first.queries] == ["worst"] and again.queries == []
    assert DataQuery.objects.filter(rule_code=RULE_PATIENT_REPORT_DIFFERS).count() == 1


def test_coordinator_corrects_a_patient_value_with_a_reason_and_the_audit_keeps_both(patient, coordinator):
    visit = week1(patient)
    visit_patient_report_apply(visit=visit, report=report())
    visit = week1(patient)
    with pytest.raises(DomainValidationError) as exc:
        services.visit_record(
            actor=coordinator, visit=visit, data=services.VisitData.from_visit(visit).with_changes(pain={"worst": 5})
        )
    assert "reason" in exc.value.errors
    services.visit_record(
        actor=coordinator,
        visit=visit,
        data=services.VisitData.from_visit(visit).with_changes(pain={"worst": 5}),
        reason="Patient phoned: meant 5",
    )
    history = list(PainAssessment.objects.get(visit=visit).history.order_by("history_id"))
    assert [(h.worst, h.history_user.username, h.source) for h in history] == [
        (6, PATIENT_ACTOR_USERNAME, "patient"),
        (5, coordinator.username, "patient"),
    ]
    assert history[-1].history_change_reason == "Patient phoned: meant 5"


def test_opioid_review_by_the_site_and_refusals(patient, coordinator, other_coordinator):
    visit = week1(patient)
    visit_patient_report_apply(visit=visit, report=report())
    with pytest.raises(PermissionDenied):
        visit_opioid_review(actor=other_coordinator, visit=week1(patient))
    reviewed = visit_opioid_review(actor=coordinator, visit=week1(patient))
    assert not reviewed.opioid_review_pending and reviewed.opioid_reviewed_by == coordinator
    assert reviewed.history.latest().history_change_reason == "Patient-reported opioid answers reviewed by staff"
    with pytest.raises(DomainValidationError) as exc:
        visit_opioid_review(actor=coordinator, visit=reviewed)
    assert "opioid_status" in exc.value.errors


def test_a_staff_correction_of_the_opioid_answers_is_their_review(patient, coordinator):
    visit = week1(patient)
    visit_patient_report_apply(visit=visit, report=report())
    visit = week1(patient)
    services.visit_record(
        actor=coordinator,
        visit=visit,
        data=services.VisitData.from_visit(visit).with_changes(medications=[{**OXY, "doses_per_day": "3"}]),
        reason="Patient takes it three times a day",
    )
    visit = week1(patient)
    assert not visit.opioid_review_pending and visit.opioid_reviewed_by == coordinator
    assert visit.omed() == Decimal("45.00")


def test_a_bpi_only_correction_leaves_the_opioid_review_pending(patient, coordinator):
    visit = week1(patient)
    visit_patient_report_apply(visit=visit, report=report())
    visit = week1(patient)
    services.visit_record(
        actor=coordinator, visit=visit, data=services.VisitData.from_visit(visit).with_changes(pain={"mood": 2}), reason="typo"
    )
    assert week1(patient).opioid_review_pending


def test_correcting_a_patient_value_through_its_query(patient, coordinator, data_manager):
    visit = week1(patient)
    services.visit_record(actor=coordinator, visit=visit, data=visit_data(visit.target_date, worst=4))
    query = next(q for q in visit_patient_report_apply(visit=visit, report=report()).queries if q.field_name == "worst")
    data_query_correct(actor=coordinator, query=query, value=6, reason="The patient's own answer is right")
    assert PainAssessment.objects.get(visit=visit).worst == 6


def test_voiding_the_visit_data_clears_the_provenance(patient, coordinator):
    visit = week1(patient)
    visit_patient_report_apply(visit=visit, report=report())
    services.visit_data_void(actor=coordinator, visit=week1(patient), reason="Wrong patient's link")
    visit, pain = week1(patient), PainAssessment.objects.get(visit=visit)
    assert (visit.opioid_source, visit.opioid_submitted_at, pain.source, pain.submitted_at) == ("staff", None, "staff", None)


def test_the_visit_page_shows_the_source_and_the_coordinator_reviews_the_opioids(client, patient, coordinator):
    from django.urls import reverse

    visit = week1(patient)
    visit_patient_report_apply(visit=visit, report=report())
    client.force_login(coordinator)
    url = reverse("visit_detail", args=[patient.study_id, "week1"])
    page = client.get(url).content.decode()
    assert 'id="bpi-source"><strong>Source:</strong> Patient (submitted by the patient' in page
    assert 'id="opioid-review"' in page and "Review needed." in page
    response = client.post(
        reverse("visit_opioid_review", args=[patient.study_id, "week1"]), {"expected_version": week1(patient).version}
    )
    assert response.status_code == 302
    page = client.get(url).content.decode()
    assert 'id="opioid-review"' not in page and f"reviewed by {coordinator.get_full_name() or coordinator.username}" in page
    assert client.get(reverse("visit_opioid_review", args=[patient.study_id, "week1"])).status_code == 405


def test_staff_entered_visits_show_staff_as_the_source(client, patient, coordinator):
    from django.urls import reverse

    visit = week1(patient)
    services.visit_record(actor=coordinator, visit=visit, data=visit_data(visit.target_date))
    client.force_login(coordinator)
    page = client.get(reverse("visit_detail", args=[patient.study_id, "week1"])).content.decode()
    assert 'id="bpi-source"><strong>Source:</strong> Staff</p>' in page and "Review needed." not in page
