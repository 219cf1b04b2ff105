"""Visit data: BPI ranges, MME, 'no opioids' vs missing, windows, corrections with a reason."""

import datetime as dt
from decimal import Decimal

import pytest

from tests.factories import visit_data
from trials import services
from trials.errors import ConflictError, DomainValidationError
from trials.models import MedicationUse, PainAssessment, Visit

pytestmark = pytest.mark.django_db

OXY = {"drug": "oxycodone", "route": "oral", "dose": "10", "unit": "mg", "doses_per_day": "2"}
PATCH = {"drug": "fentanyl", "route": "transdermal", "dose": "25", "unit": "mcg/h", "doses_per_day": "1"}


def month1(patient):
    return Visit.objects.get(patient=patient, visit_code="month1")


def test_record_visit_with_two_opioids_sums_omed(patient, coordinator):
    v = month1(patient)
    v = services.visit_record(actor=coordinator, visit=v, data=visit_data(v.target_date, meds=[OXY, PATCH]))
    meds = list(v.medications.active())
    assert sorted(m.mme_per_day for m in meds) == [Decimal("30.00"), Decimal("60.00")]
    assert all(m.mme_table_version == "CDC 2022" for m in meds)
    assert v.omed() == Decimal("90.00")
    assert v.status_on(v.target_date) == "completed"
    assert not v.out_of_window


def test_no_opioids_is_zero_and_unknown_is_missing(patient, coordinator):
    v = month1(patient)
    services.visit_record(actor=coordinator, visit=v, data=visit_data(v.target_date, opioid_status="none"))
    assert month1(patient).omed() == Decimal("0")
    week1 = Visit.objects.get(patient=patient, visit_code="week1")
    services.visit_record(actor=coordinator, visit=week1, data=visit_data(week1.target_date, opioid_status="unknown"))
    week1.refresh_from_db()
    assert week1.omed() is None


def test_taking_without_rows_and_rows_without_taking_rejected(patient, coordinator):
    v = month1(patient)
    with pytest.raises(DomainValidationError) as exc:
        services.visit_record(actor=coordinator, visit=v, data=visit_data(v.target_date, opioid_status="taking"))
    assert "medications" in exc.value.errors
    with pytest.raises(DomainValidationError) as exc:
        services.visit_record(actor=coordinator, visit=v, data=visit_data(v.target_date, meds=[OXY], opioid_status="none"))
    assert "opioid_status" in exc.value.errors


@pytest.mark.parametrize(("worst", "ok"), [(-1, False), (0, True), (10, True), (11, False)])
def test_pain_items_0_to_10(patient, coordinator, worst, ok):
    v = month1(patient)
    if ok:
        services.visit_record(actor=coordinator, visit=v, data=visit_data(v.target_date, worst=worst))
        assert PainAssessment.objects.get(visit=v).worst == worst
    else:
        with pytest.raises(DomainValidationError) as exc:
            services.visit_record(actor=coordinator, visit=v, data=visit_data(v.target_date, worst=worst))
        message = exc.value.errors["pain.worst"][0]
        assert "between 0 and 10" in message and str(worst) in message and "§" not in message


def test_rejected_visit_write_leaves_database_unchanged(patient, coordinator):
    v = month1(patient)
    before = (Visit.objects.get(pk=v.pk).version, PainAssessment.objects.count(), MedicationUse.objects.count())
    bad_med = {**OXY, "dose": "-10"}
    with pytest.raises(DomainValidationError) as exc:
        services.visit_record(actor=coordinator, visit=v, data=visit_data(v.target_date, worst=3, meds=[OXY, bad_med]))
    assert "medications[1].dose" in exc.value.errors
    v.refresh_from_db()
    assert (v.version, PainAssessment.objects.count(), MedicationUse.objects.count()) == before
    assert v.visit_date is None


def test_unknown_drug_gets_guidance_not_a_list_of_every_drug(patient, coordinator):
    v = month1(patient)
    with pytest.raises(DomainValidationError) as exc:
        services.visit_record(actor=coordinator, visit=v, data=visit_data(v.target_date, meds=[{**OXY, "drug": "heroin"}]))
    message = exc.value.errors["medications[0].drug"][0]
    assert "No CDC 2022 conversion factor for heroin" in message and "Explicit MME factor" in message
    assert "oxycodone (oral, mg)" not in message


def test_visit_date_not_before_enrollment_nor_future(patient, coordinator, today):
    v = month1(patient)
    for date in (patient.enrollment_date - dt.timedelta(days=1), today + dt.timedelta(days=1)):
        with pytest.raises(DomainValidationError) as exc:
            services.visit_record(actor=coordinator, visit=v, data=visit_data(date))
        assert "visit_date" in exc.value.errors


def test_visit_after_exit_rejected(patient, coordinator):
    exit_date = patient.day0 + dt.timedelta(days=20)
    services.study_exit_record(
        actor=coordinator,
        patient=patient,
        data={"exit_type": "withdrawal", "exit_date": exit_date, "last_contact_date": exit_date},
    )
    v = month1(patient)
    with pytest.raises(DomainValidationError) as exc:
        services.visit_record(actor=coordinator, visit=v, data=visit_data(v.target_date))
    assert "after the patient's study exit" in exc.value.errors["visit_date"][0]
    v.refresh_from_db()
    assert v.status_on(v.target_date + dt.timedelta(days=1), exit_date=exit_date) == "not_applicable"


def test_out_of_window_visit_kept_and_flagged(patient, coordinator):
    v = month1(patient)
    late = v.window_end + dt.timedelta(days=3)
    services.visit_record(actor=coordinator, visit=v, data=visit_data(late))
    v.refresh_from_db()
    assert v.visit_date == late and v.out_of_window


def test_correction_needs_reason_and_is_audited(patient, coordinator):
    v = month1(patient)
    services.visit_record(actor=coordinator, visit=v, data=visit_data(v.target_date, worst=4, meds=[OXY]))
    with pytest.raises(DomainValidationError) as exc:
        services.visit_record(actor=coordinator, visit=v, data=visit_data(v.target_date, worst=6, meds=[OXY]))
    assert "reason" in exc.value.errors
    services.visit_record(
        actor=coordinator, visit=v, data=visit_data(v.target_date, worst=6, meds=[PATCH]), reason="Transcription error"
    )
    pain = PainAssessment.objects.get(visit=v)
    assert pain.worst == 6
    latest, previous = list(pain.history.all()[:2])
    delta = latest.diff_against(previous)
    assert [(c.field, c.old, c.new) for c in delta.changes if c.field == "worst"] == [("worst", 4, 6)]
    assert latest.history_user == coordinator and latest.history_change_reason == "Transcription error"
    # the replaced opioid row is voided, not deleted
    old = MedicationUse.objects.get(drug="oxycodone")
    assert old.voided_at is not None and "Transcription error" in old.void_reason
    assert month1(patient).omed() == Decimal("60.00")


def test_stale_version_conflicts(patient, coordinator):
    v = month1(patient)
    services.visit_record(actor=coordinator, visit=v, data=visit_data(v.target_date), expected_version=v.version)
    with pytest.raises(ConflictError):
        services.visit_record(
            actor=coordinator, visit=v, data=visit_data(v.target_date, worst=5), reason="x", expected_version=v.version
        )


def test_doses_per_day_zero_is_rejected_not_stored_as_one(patient, coordinator):
    v = month1(patient)
    with pytest.raises(DomainValidationError) as exc:
        services.visit_record(actor=coordinator, visit=v, data=visit_data(v.target_date, meds=[{**OXY, "doses_per_day": "0"}]))
    assert "must be positive" in exc.value.errors["medications[0].doses_per_day"][0]
    assert not MedicationUse.objects.exists()


def test_two_patches_worn_at_once_count_twice(patient, coordinator):
    v = month1(patient)
    v = services.visit_record(actor=coordinator, visit=v, data=visit_data(v.target_date, meds=[{**PATCH, "doses_per_day": "2"}]))
    (med,) = v.medications.active()
    assert med.mme_per_day == Decimal("120.00") and v.omed() == Decimal("120.00")
    assert str(med) == "fentanyl 25 mcg/h × 2 patches at once"
