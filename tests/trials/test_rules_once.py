"""Each domain rule is written once (trials/domain) and every layer gives the same answer (issue 10, A.3).

In-window, "planned radiation is not an SRE", age and OMED-when-taking-with-no-rows are each checked
through the service, the API and the analysis on the same record, at the boundary where two
different implementations used to disagree.
"""

from __future__ import annotations

import datetime as dt
import math
from decimal import Decimal

import pytest

from analytics.dataset import snapshot_extract
from analytics.derive import analysis_patients, qualifying_sres, visit_omed
from tests.api.conftest import token_client
from tests.factories import enroll_patient, make_user, visit_data
from trials import services
from trials.domain import age, mme, schedule, sre
from trials.errors import DomainValidationError
from trials.models import MedicationUse, Patient, Role, Site, SkeletalEvent
from trials.seeding.generator import PatientGenerator

OXY = {"drug": "oxycodone", "route": "oral", "dose": "10", "unit": "mg", "doses_per_day": "2"}


@pytest.fixture
def coordinator(db):
    site = Site.objects.create(code="ATL", name="Atlanta General")
    return make_user("coord", Role.COORDINATOR, site)


# --- in window: both ends included, one function --------------------------------------------------------------------


@pytest.mark.parametrize(("offset", "inside"), [(-1, False), (0, True), (21, True), (22, False)])
def test_in_window_edges(offset, inside):
    start, end = dt.date(2026, 2, 1), dt.date(2026, 2, 22)
    assert schedule.is_in_window(start + dt.timedelta(days=offset), start, end) is inside


def test_visit_service_and_reschedule_flag_the_window_with_the_same_rule(coordinator, today):
    patient = enroll_patient(
        coordinator,
        coordinator.memberships.get().site,
        enrollment_date=today - dt.timedelta(days=60),
        day0=today - dt.timedelta(days=50),
    )
    visit = patient.visits.get(visit_code="month1")
    services.visit_record(actor=coordinator, visit=visit, data=visit_data(visit.window_end))  # last day: in window
    visit.refresh_from_db()
    assert visit.out_of_window is False
    # Day 0 one day earlier moves the window back a day: the same date is now one day late.
    services.patient_reschedule(actor=coordinator, patient=patient, day0=patient.day0 - dt.timedelta(days=1), reason="Moved")
    visit.refresh_from_db()
    assert visit.out_of_window is True and not schedule.is_in_window(visit.visit_date, visit.window_start, visit.window_end)


# --- planned radiation is not an SRE --------------------------------------------------------------------------------


def test_radiation_on_the_last_day_of_the_planned_course_is_refused_by_the_service_and_dropped_by_the_analysis(
    coordinator, today
):
    patient = enroll_patient(
        coordinator,
        coordinator.memberships.get().site,
        enrollment_date=today - dt.timedelta(days=60),
        day0=today - dt.timedelta(days=50),
    )
    start, end = patient.day0 + dt.timedelta(days=10), patient.day0 + dt.timedelta(days=14)
    services.radiation_record(
        actor=coordinator,
        patient=patient,
        data={
            "sequence": "after",
            "start_date": start,
            "end_date": end,
            "total_dose_gy": 20,
            "fractions": 5,
            "technique": "sbrt",
        },
    )
    with pytest.raises(DomainValidationError) as exc:
        services.skeletal_event_report(
            actor=coordinator, patient=patient, data={"event_type": "radiation_to_bone", "event_date": end}
        )
    assert "planned radiation is not an SRE" in exc.value.errors["event_type"][0]
    # The day after the course is unplanned radiation: an SRE for the service and for the analysis.
    services.skeletal_event_report(
        actor=coordinator, patient=patient, data={"event_type": "radiation_to_bone", "event_date": end + dt.timedelta(days=1)}
    )
    # One recorded inside the course before the course itself was recorded (the service could not see it):
    SkeletalEvent.objects.create(patient=patient, event_type="radiation_to_bone", event_date=end)
    snapshot = snapshot_extract()
    counted = qualifying_sres(snapshot, analysis_patients(snapshot), include_hypercalcaemia=False)
    assert sorted(counted["event_date"].dt.date) == [end + dt.timedelta(days=1)]
    assert sre.is_planned_radiation("radiation_to_bone", end, [(start, end)])
    assert not sre.is_planned_radiation("pathologic_fracture", end, [(start, end)])


def test_the_seeder_never_generates_planned_radiation_as_an_sre():
    generator = PatientGenerator(seed=7, anchor=dt.date(2026, 6, 1))
    site = Site(code="SEE", name="Seed")
    radiation_sres_checked = 0
    for number in range(400):
        plan = generator.patient(site, f"SEE-{number:04d}")
        if plan.radiation is None:
            continue
        course = [(plan.radiation.start_date, plan.radiation.end_date)]
        for event in plan.skeletal_events:
            radiation_sres_checked += event.event_type == sre.RADIATION_TO_BONE
            assert not sre.is_planned_radiation(event.event_type, event.event_date, course)
    assert radiation_sres_checked > 0


# --- age: enrollment year − birth year everywhere -------------------------------------------------------------------


def test_age_is_anchored_on_the_enrollment_year_in_eligibility_sponsor_view_and_analysis(coordinator, db):
    # Enrolled on 30 December, treated (day 0) on 5 January: the two anchors differ by a year.
    today = dt.date.today()
    enrollment = dt.date(today.year - 1, 12, 30) if today >= dt.date(today.year, 1, 6) else dt.date(today.year - 2, 12, 30)
    born = enrollment.year - 21
    patient = enroll_patient(
        coordinator,
        coordinator.memberships.get().site,
        enrollment_date=enrollment,
        day0=dt.date(enrollment.year + 1, 1, 5),
        birth_year=born,
    )
    assert Patient.objects.get(pk=patient.pk).age == 21 == age.age_years(born, enrollment.year)  # eligible: ≥ 21
    sponsor = make_user("spons", Role.SPONSOR, None)
    assert token_client(sponsor).get(f"/api/v1/patients/{patient.study_id}/").json()["age"] == 21
    snapshot = snapshot_extract()
    assert analysis_patients(snapshot).set_index("study_id").loc[patient.study_id, "age"] == 21


# --- OMED when 'taking' has no active entry: missing in the model, the API and the analysis ---------------------------


def test_omed_of_taking_with_no_active_entry_is_missing_everywhere(coordinator, today):
    patient = enroll_patient(
        coordinator,
        coordinator.memberships.get().site,
        enrollment_date=today - dt.timedelta(days=60),
        day0=today - dt.timedelta(days=50),
    )
    visit = patient.visits.get(visit_code="month1")
    services.visit_record(actor=coordinator, visit=visit, data=visit_data(patient.day0 + dt.timedelta(days=30), meds=[OXY]))
    visit.refresh_from_db()
    assert visit.omed() == Decimal("30")  # 10 mg × 2/day × 1.5
    # The only opioid row is voided (entered on the wrong patient): the answer stays "taking", the dose is unknown.
    services.clinical_record_void(actor=coordinator, instance=MedicationUse.objects.get(visit=visit), reason="Wrong patient")
    visit.refresh_from_db()
    assert visit.opioid_status == "taking" and visit.omed() is None
    body = token_client(coordinator).get(f"/api/v1/visits/{visit.pk}/").json()
    assert body["omed"] is None
    frame = visit_omed(snapshot_extract()).set_index(["study_id", "visit"])
    assert math.isnan(frame.loc[(patient.study_id, "month1"), "omed"])


@pytest.mark.parametrize(
    ("status", "rows", "expected"),
    [
        ("none", [], Decimal("0")),
        ("unknown", [], None),
        ("taking", [], None),
        ("taking", [Decimal("30"), Decimal("24")], Decimal("54")),
    ],
)
def test_visit_omed_rule(status, rows, expected):
    assert mme.visit_omed(status, rows) == expected
