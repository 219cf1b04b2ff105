"""Automatic data-quality rules run once per service call, after commit (issue 10, A.4).

Before, ``save_audited`` scheduled a run for every saved row: one enrollment ran the rule set 8 times
(the index lesion and the 7 scheduled visits) and one visit save 3 times (visit, BPI, opioid row).
"""

from __future__ import annotations

import datetime as dt

import pytest

from tests.data_management.conftest import record_visit
from tests.factories import patient_data, spine_lesion
from trials import services
from trials.errors import DomainValidationError
from trials.models import DataQuery
from trials.services import data_query_rules as rules
from trials.services.data_queries import data_query_correct, data_query_open

OXY = {"drug": "oxycodone", "route": "oral", "dose": "10", "unit": "mg", "doses_per_day": "2"}


@pytest.fixture
def runs(monkeypatch):
    """Each run of the rule set, as the list of patient ids it covered."""
    calls: list[list[int]] = []
    real = rules.data_queries_run_rules

    def counting(*, patient_ids=None, **kwargs):
        calls.append(list(patient_ids or []))
        return real(patient_ids=patient_ids, **kwargs)

    monkeypatch.setattr(rules, "data_queries_run_rules", counting)
    return calls


def test_one_enrollment_runs_the_rules_once(coordinator, site, today, runs, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        patient = services.patient_enroll(
            actor=coordinator,
            site=site,
            patient_data=patient_data(enrollment_date=today - dt.timedelta(days=10)),
            lesion_data=spine_lesion(),
        )
    assert runs == [[patient.pk]]


def test_one_visit_save_with_bpi_and_opioid_rows_runs_the_rules_once(
    coordinator, patient, runs, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        visit = record_visit(coordinator, patient, "month1", 45, meds=[OXY])
    assert runs == [[patient.pk]]
    # …and that one run did its work: the late visit raised its query.
    assert DataQuery.objects.filter(rule_code=rules.RULE_OUT_OF_WINDOW, object_id=visit.pk).count() == 1


def test_a_correction_through_a_data_query_runs_the_rules_once(
    coordinator, data_manager, patient, runs, django_capture_on_commit_callbacks
):
    visit = record_visit(coordinator, patient, "month1", 30, meds=[OXY])
    query = data_query_open(actor=data_manager, record=visit.pain, field_name="worst", message="Please confirm")
    runs.clear()
    with django_capture_on_commit_callbacks(execute=True):
        data_query_correct(actor=coordinator, query=query, value=7, reason="Source says 7")
    assert runs == [[patient.pk]]


def test_each_service_runs_them_once(coordinator, patient, today, runs, django_capture_on_commit_callbacks):
    for call in (
        lambda: services.adverse_event_report(
            actor=coordinator,
            patient=patient,
            data={
                "term": "Pain flare",
                "onset_date": patient.day0 + dt.timedelta(days=2),
                "sir_grade": "mild",
                "ctcae_grade": 1,
                "relatedness": "procedure",
                "serious": False,
                "outcome": "recovered",
            },
        ),
        lambda: services.skeletal_event_report(
            actor=coordinator,
            patient=patient,
            data={"event_type": "pathologic_fracture", "event_date": patient.day0 + dt.timedelta(days=20), "location": "L2"},
        ),
        lambda: services.study_exit_record(
            actor=coordinator, patient=patient, data={"exit_type": "withdrawal", "exit_date": today, "last_contact_date": today}
        ),
    ):
        runs.clear()
        with django_capture_on_commit_callbacks(execute=True):
            call()
        assert runs == [[patient.pk]]


def test_nothing_runs_when_the_service_fails(coordinator, patient, runs, django_capture_on_commit_callbacks):
    visit = patient.visits.get(visit_code="month1")
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(DomainValidationError):
        services.visit_record(actor=coordinator, visit=visit, data=services.VisitData(visit_date=None))
    assert runs == []
