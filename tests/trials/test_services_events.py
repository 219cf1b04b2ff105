"""AEs, SREs, exits: cross-record date rules, planned-RT exclusion, audit, void instead of delete."""

import datetime as dt
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied

from trials import services
from trials.errors import DomainValidationError
from trials.models import AdverseEvent, RadiationCourse, SkeletalEvent, StudyExit

pytestmark = pytest.mark.django_db


def d(patient, days):
    return patient.day0 + dt.timedelta(days=days)


def ae_data(patient, days=2, **kw):
    return {
        "term": "Hematoma",
        "onset_date": d(patient, days),
        "sir_grade": "moderate",
        "ctcae_grade": 2,
        "relatedness": "procedure",
        "serious": False,
        **kw,
    }


def test_ae_before_day0_rejected(patient, coordinator):
    with pytest.raises(DomainValidationError) as exc:
        services.adverse_event_report(actor=coordinator, patient=patient, data=ae_data(patient, days=-1))
    assert "before day 0" in exc.value.errors["onset_date"][0]
    assert AdverseEvent.objects.count() == 0


def test_events_after_death_rejected(patient, coordinator):
    services.study_exit_record(
        actor=coordinator, patient=patient, data={"exit_type": "death", "exit_date": d(patient, 30), "death_cause": "Progression"}
    )
    with pytest.raises(DomainValidationError) as exc:
        services.adverse_event_report(actor=coordinator, patient=patient, data=ae_data(patient, days=31))
    assert "after the patient's death" in exc.value.errors["onset_date"][0]
    with pytest.raises(DomainValidationError) as exc:
        services.skeletal_event_report(
            actor=coordinator, patient=patient, data={"event_type": "pathologic_fracture", "event_date": d(patient, 40)}
        )
    assert "event_date" in exc.value.errors
    assert services.skeletal_event_report(
        actor=coordinator, patient=patient, data={"event_type": "pathologic_fracture", "event_date": d(patient, 30)}
    ).pk


def test_sir_death_and_ctcae_5_go_together(patient, coordinator):
    with pytest.raises(DomainValidationError) as exc:
        services.adverse_event_report(actor=coordinator, patient=patient, data=ae_data(patient, sir_grade="death", ctcae_grade=3))
    assert "ctcae_grade" in exc.value.errors


def test_ctcae_out_of_range_named(patient, coordinator):
    with pytest.raises(DomainValidationError) as exc:
        services.adverse_event_report(actor=coordinator, patient=patient, data=ae_data(patient, ctcae_grade=6))
    assert "ctcae_grade" in exc.value.errors


def test_radiation_sre_during_planned_course_rejected(patient, coordinator):
    course = services.radiation_record(
        actor=coordinator,
        patient=patient,
        data={
            "sequence": "after",
            "start_date": d(patient, 10),
            "end_date": d(patient, 14),
            "total_dose_gy": Decimal("20"),
            "fractions": 5,
            "technique": "conventional",
        },
    )
    assert round(course.bed_gy, 1) == 28.0 and round(course.eqd2_gy, 1) == 23.3
    with pytest.raises(DomainValidationError) as exc:
        services.skeletal_event_report(
            actor=coordinator, patient=patient, data={"event_type": "radiation_to_bone", "event_date": d(patient, 12)}
        )
    assert "planned radiation is not an SRE" in exc.value.errors["event_type"][0]
    sre = services.skeletal_event_report(
        actor=coordinator, patient=patient, data={"event_type": "radiation_to_bone", "event_date": d(patient, 60)}
    )
    assert sre.pk and SkeletalEvent.objects.count() == 1


def test_radiation_sequence_must_match_dates(patient, coordinator):
    with pytest.raises(DomainValidationError) as exc:
        services.radiation_record(
            actor=coordinator,
            patient=patient,
            data={
                "sequence": "before",
                "start_date": d(patient, 10),
                "end_date": d(patient, 10),
                "total_dose_gy": Decimal("8"),
                "fractions": 1,
                "technique": "conventional",
            },
        )
    assert "sequence" in exc.value.errors
    assert RadiationCourse.objects.count() == 0


def test_exit_rules(patient, coordinator):
    from tests.factories import visit_data
    from trials.models import Visit

    v = Visit.objects.get(patient=patient, visit_code="month1")
    services.visit_record(actor=coordinator, visit=v, data=visit_data(v.target_date))
    with pytest.raises(DomainValidationError) as exc:
        services.study_exit_record(
            actor=coordinator,
            patient=patient,
            data={"exit_type": "withdrawal", "exit_date": d(patient, 20), "last_contact_date": d(patient, 20)},
        )
    assert "Visit month1 has data" in exc.value.errors["exit_date"][0]
    with pytest.raises(DomainValidationError) as exc:
        services.study_exit_record(
            actor=coordinator,
            patient=patient,
            data={
                "exit_type": "withdrawal",
                "exit_date": d(patient, 50),
                "last_contact_date": d(patient, 50),
                "death_cause": "x",
            },
        )
    assert "death_cause" in exc.value.errors
    services.study_exit_record(
        actor=coordinator,
        patient=patient,
        data={"exit_type": "lost_to_follow_up", "exit_date": d(patient, 80), "last_contact_date": v.target_date},
    )
    with pytest.raises(DomainValidationError):
        services.study_exit_record(actor=coordinator, patient=patient, data={"exit_type": "death", "exit_date": d(patient, 85)})
    assert StudyExit.objects.count() == 1


def test_update_requires_reason_and_records_user_old_new(patient, coordinator):
    ae = services.adverse_event_report(actor=coordinator, patient=patient, data=ae_data(patient))
    with pytest.raises(DomainValidationError) as exc:
        services.clinical_record_update(
            actor=coordinator, instance=ae, changes={"ctcae_grade": 3, "sir_grade": "severe"}, reason=""
        )
    assert "reason" in exc.value.errors
    ae = services.clinical_record_update(
        actor=coordinator, instance=ae, changes={"ctcae_grade": 3, "sir_grade": "severe"}, reason="Re-graded at review"
    )
    assert ae.version == 2
    new, old = list(ae.history.all()[:2])
    changes = {c.field: (c.old, c.new) for c in new.diff_against(old).changes}
    assert changes["ctcae_grade"] == (2, 3) and changes["sir_grade"] == ("moderate", "severe")
    assert new.history_user == coordinator and new.history_change_reason == "Re-graded at review"
    assert old.history_change_reason == "Initial entry"


def test_rejected_update_leaves_row_unchanged(patient, coordinator):
    ae = services.adverse_event_report(actor=coordinator, patient=patient, data=ae_data(patient))
    with pytest.raises(DomainValidationError) as exc:
        services.clinical_record_update(actor=coordinator, instance=ae, changes={"onset_date": d(patient, -5)}, reason="typo")
    assert "onset_date" in exc.value.errors
    ae.refresh_from_db()
    assert ae.onset_date == d(patient, 2) and ae.version == 1 and ae.history.count() == 1


def test_protected_fields_cannot_be_updated(patient, coordinator):
    with pytest.raises(DomainValidationError) as exc:
        services.clinical_record_update(
            actor=coordinator, instance=patient, changes={"study_id": "ATL-9999", "site": None}, reason="x"
        )
    assert {"study_id", "site"} <= set(exc.value.errors)


def test_void_instead_of_delete(patient, coordinator):
    ae = services.adverse_event_report(actor=coordinator, patient=patient, data=ae_data(patient))
    with pytest.raises(PermissionError):
        ae.delete()
    with pytest.raises(DomainValidationError):
        services.clinical_record_void(actor=coordinator, instance=ae, reason=" ")
    services.clinical_record_void(actor=coordinator, instance=ae, reason="Entered for the wrong patient")
    ae.refresh_from_db()
    assert ae.voided_at is not None and ae.voided_by == coordinator
    assert AdverseEvent.objects.count() == 1 and AdverseEvent.objects.active().count() == 0
    assert ae.history.first().history_change_reason == "Voided: Entered for the wrong patient"


def test_other_site_coordinator_cannot_write(patient, other_coordinator):
    with pytest.raises(PermissionDenied):
        services.adverse_event_report(actor=other_coordinator, patient=patient, data=ae_data(patient))
    with pytest.raises(PermissionDenied):
        services.clinical_record_update(actor=other_coordinator, instance=patient, changes={"ecog": 2}, reason="x")


def test_long_reason_for_change_is_kept_whole(patient, coordinator):
    reason = (
        "Source document verification at the monitoring visit found the grade was transcribed from the wrong line "
        "of the CRF; corrected per the site's SOP 12.4."
    )
    assert len(reason) > 100
    ae = services.adverse_event_report(actor=coordinator, patient=patient, data=ae_data(patient))
    ae = services.clinical_record_update(
        actor=coordinator, instance=ae, changes={"ctcae_grade": 1, "sir_grade": "mild"}, reason=reason
    )
    assert ae.history.first().history_change_reason == reason
