"""Enrollment: eligibility per docs/domain.md §1, study IDs, schedule, and all-or-nothing writes."""

import datetime as dt

import pytest
from django.core.exceptions import PermissionDenied

from tests.factories import patient_data, pelvic_lesion, spine_lesion
from trials import services
from trials.errors import DomainValidationError
from trials.models import Lesion, Patient, Visit

pytestmark = pytest.mark.django_db


def enroll(actor, site, lesion=None, deviation="", **overrides):
    return services.patient_enroll(
        actor=actor,
        site=site,
        patient_data=patient_data(**overrides),
        lesion_data=lesion or spine_lesion(),
        protocol_deviation=deviation,
    )


def test_enroll_generates_study_id_lesion_and_schedule(coordinator, site):
    p1 = enroll(coordinator, site)
    p2 = enroll(coordinator, site)
    assert (p1.study_id, p2.study_id) == ("ATL-0001", "ATL-0002")
    visits = list(Visit.objects.filter(patient=p1).order_by("target_date"))
    assert [v.visit_code for v in visits] == ["baseline", "day3", "week1", "month1", "month3", "month6", "month12"]
    month1 = visits[3]
    assert month1.target_date == p1.day0 + dt.timedelta(days=30)
    assert (month1.window_start, month1.window_end) == (p1.day0 + dt.timedelta(days=21), p1.day0 + dt.timedelta(days=42))
    index = Lesion.objects.get(patient=p1)
    assert index.sins_total == 8 and index.sins_category == "potentially unstable"


# Each criterion: one passing and one failing value (docs/domain.md §1).
FAILING = [
    ("screening_worst_pain", {"screening_worst_pain": 4}, None),
    ("prior_treatment_of_index_lesion", {"prior_treatment_of_index_lesion": True}, None),
    ("lesion.sins", {}, spine_lesion(sins_pain="occasional")),  # SINS 6
    ("lesion", {}, pelvic_lesion(lesion_type="blastic")),
    ("lesion", {}, pelvic_lesion(mechanical_or_functional_pain=False)),
    ("ecog", {"ecog": 3}, None),
    ("birth_year", {"birth_year": 2006}, None),  # 2026 − 2006 = 20
    ("life_expectancy_over_3_months", {"life_expectancy_over_3_months": False}, None),
]


@pytest.mark.parametrize(("field", "overrides", "lesion"), FAILING)
def test_each_failed_criterion_is_named_and_nothing_written(coordinator, site, field, overrides, lesion):
    with pytest.raises(DomainValidationError) as exc:
        enroll(coordinator, site, lesion=lesion, **overrides)
    assert field in exc.value.errors
    assert "Eligibility" in exc.value.errors[field][0]
    assert Patient.objects.count() == 0 and Lesion.objects.count() == 0 and Visit.objects.count() == 0


PASSING = [
    {"screening_worst_pain": 5},
    {"ecog": 2},
    {"ecog": 0},
    {"birth_year": 2005},  # 21 in 2026
]


@pytest.mark.parametrize("overrides", PASSING)
def test_boundary_values_pass(coordinator, site, overrides):
    assert enroll(coordinator, site, **overrides).pk


def test_spine_sins_7_passes_and_pelvic_lytic_mechanical_passes(coordinator, site):
    # L1: 3 + occasional 1 + lytic 2 + normal 0 + none 0 + unilateral 1 = 7
    assert enroll(coordinator, site, lesion=spine_lesion(sins_pain="occasional", sins_posterolateral="unilateral")).pk
    assert enroll(coordinator, site, lesion=pelvic_lesion()).pk


def test_several_failures_reported_at_once(coordinator, site):
    with pytest.raises(DomainValidationError) as exc:
        enroll(coordinator, site, ecog=4, screening_worst_pain=2)
    assert {"ecog", "screening_worst_pain"} <= set(exc.value.errors)


def test_data_manager_may_enroll_ineligible_as_protocol_deviation(data_manager, coordinator, site):
    with pytest.raises(DomainValidationError) as exc:
        enroll(coordinator, site, ecog=3, deviation="PI approved")
    assert "protocol_deviation" in exc.value.errors
    p = enroll(data_manager, site, ecog=3, deviation="PI approved, ECOG 3 at screening")
    assert p.protocol_deviation.startswith("PI approved")


def test_coordinator_cannot_enroll_at_another_site(coordinator, other_site):
    with pytest.raises(PermissionDenied):
        enroll(coordinator, other_site)
    assert Patient.objects.count() == 0


def test_field_rules_named(coordinator, site):
    with pytest.raises(DomainValidationError) as exc:
        enroll(coordinator, site, consent_date=dt.date(2026, 2, 1), enrollment_date=dt.date(2026, 1, 10))
    assert "consent_date" in exc.value.errors
    with pytest.raises(DomainValidationError) as exc:
        enroll(coordinator, site, lesion=spine_lesion(spine_level="", bone="femur"))
    assert "lesion.spine_level" in exc.value.errors


def test_region_and_bone_must_agree(coordinator, site):
    with pytest.raises(DomainValidationError) as exc:
        enroll(coordinator, site, lesion=pelvic_lesion(bone="femur"))
    assert "lesion.bone" in exc.value.errors


def test_procedure_on_other_day_moves_day0_and_windows(coordinator, site):
    p = enroll(coordinator, site)
    new_day0 = p.day0 + dt.timedelta(days=3)
    services.procedure_record(actor=coordinator, patient=p, data={"procedure_date": new_day0, "modality": "MWA"})
    p.refresh_from_db()
    assert p.day0 == new_day0
    assert Visit.objects.get(patient=p, visit_code="month1").target_date == new_day0 + dt.timedelta(days=30)
    assert p.history.first().history_change_reason == "Day 0 set to the index procedure date"


def test_correcting_procedure_date_or_day0_realigns_visit_windows(coordinator, site):
    p = enroll(coordinator, site)
    proc = services.procedure_record(actor=coordinator, patient=p, data={"procedure_date": p.day0, "modality": "RFA"})
    new_date = p.day0 + dt.timedelta(days=2)
    services.clinical_record_update(actor=coordinator, instance=proc, changes={"procedure_date": new_date}, reason="Date typo")
    p.refresh_from_db()
    assert p.day0 == new_date
    month3 = Visit.objects.get(patient=p, visit_code="month3")
    assert month3.target_date == new_date + dt.timedelta(days=90)
    assert month3.history.first().history_change_reason == "Rescheduled: Date typo"
    services.clinical_record_update(
        actor=coordinator, instance=p, changes={"day0": new_date + dt.timedelta(days=1)}, reason="Day 0 correction"
    )
    assert Visit.objects.get(patient=p, visit_code="month3").target_date == new_date + dt.timedelta(days=91)
