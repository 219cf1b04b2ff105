"""The interview's clinical fields (issue 10, part B), added through the case-report form declaration:
procedure intent, guidance and radiation exposure, neuromonitoring type, cement fill, baseline neurological status."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from decimal import Decimal

import pytest

from tests.factories import enroll_patient, make_user, patient_data, spine_lesion
from trials import crf, services
from trials.domain.eligibility import neurological_signs_present
from trials.errors import DomainValidationError
from trials.models import Procedure, Role, Site
from trials.seeding.generator import PatientGenerator

NEW_FIELDS = (
    "intent",
    "guidance",
    "fluoroscopy_seconds",
    "radiation_dose",
    "radiation_dose_unit",
    "neuromonitoring_type",
    "cement_fill",
)


@pytest.fixture
def coordinator(db):
    return make_user("coord", Role.COORDINATOR, Site.objects.create(code="ATL", name="Atlanta"))


def _procedure_data(day0, **overrides):
    return {
        "procedure_date": day0,
        "modality": "cryo",
        "augmentation": "cement",
        "cement_technique": "vertebroplasty",
        "cement_volume_ml": Decimal("3.0"),
        "cement_leakage": False,
        **overrides,
    }


def test_the_fields_are_declared_once_and_reach_every_layer():
    form = crf.form_of(Procedure)
    assert set(NEW_FIELDS) <= set(form.entered_fields)
    assert form.item("intent").label == "Procedure intent" and form.item("fluoroscopy_seconds").unit == "s"
    assert dict(form.item("cement_fill").choices) == {"complete": "Complete", "partial": "Partial", "none": "None"}


def test_recorded_through_the_service(coordinator, today):
    patient = enroll_patient(
        coordinator,
        coordinator.memberships.get().site,
        with_procedure=False,
        enrollment_date=today - dt.timedelta(days=20),
        day0=today - dt.timedelta(days=15),
    )
    proc = services.procedure_record(
        actor=coordinator,
        patient=patient,
        data=_procedure_data(
            patient.day0,
            intent="local_control",
            guidance="cbct",
            fluoroscopy_seconds=140,
            radiation_dose=Decimal("8.5"),
            radiation_dose_unit="dap_gycm2",
            neuromonitoring_type="motor",
            cement_fill="partial",
        ),
    )
    proc.refresh_from_db()
    assert (proc.intent, proc.guidance, proc.cement_fill, proc.radiation_dose_unit) == (
        "local_control",
        "cbct",
        "partial",
        "dap_gycm2",
    )


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        (
            {
                "augmentation": "none",
                "cement_technique": "",
                "cement_volume_ml": None,
                "cement_leakage": None,
                "cement_fill": "complete",
            },
            "cement_fill",
        ),
        ({"radiation_dose": Decimal("8.5")}, "radiation_dose_unit"),
        ({"radiation_dose_unit": "dlp_mgycm"}, "radiation_dose_unit"),
        ({"intent": "cure"}, "intent"),
    ],
)
def test_inconsistent_values_are_refused_naming_the_field(coordinator, today, overrides, field):
    patient = enroll_patient(
        coordinator,
        coordinator.memberships.get().site,
        with_procedure=False,
        enrollment_date=today - dt.timedelta(days=20),
        day0=today - dt.timedelta(days=15),
    )
    with pytest.raises(DomainValidationError) as exc:
        services.procedure_record(actor=coordinator, patient=patient, data=_procedure_data(patient.day0, **overrides))
    assert field in exc.value.errors


def test_the_seeder_generates_realistic_values():
    generator = PatientGenerator(seed=3, anchor=dt.date(2026, 6, 1))
    site = Site(code="SEE", name="Seed")
    procedures = [p for p in (generator.patient(site, f"SEE-{n:04d}").procedure for n in range(1500)) if p is not None]
    intents = Counter(p.intent for p in procedures)
    local = [p for p in procedures if p.intent == "local_control"]
    assert 0.10 <= len(local) / len(procedures) <= 0.20  # interview: ~10–20% local tumour control
    assert Counter(p.modality for p in local).most_common(1)[0][0] == "cryo"  # mostly cryoablation
    assert set(intents) == {"palliative", "local_control"}
    cemented = [p for p in procedures if p.augmentation == "cement"]
    assert all(p.cement_fill for p in cemented) and not any(p.cement_fill for p in procedures if p.augmentation != "cement")
    assert all((p.radiation_dose is None) == (not p.radiation_dose_unit) for p in procedures)
    robotic = [p.fluoroscopy_seconds for p in procedures if p.guidance == "robotic"]
    fluoro = [p.fluoroscopy_seconds for p in procedures if p.guidance == "fluoroscopy"]
    assert sum(robotic) / len(robotic) < sum(fluoro) / len(fluoro)  # robots cut fluoroscopy time


# --- baseline neurological status: a contraindication at enrollment ---------------------------------------------------


@pytest.mark.parametrize(
    "sign",
    [{"new_bowel_bladder_dysfunction": True}, {"new_motor_weakness": True}, {"foot_drop": True}, {"frankel_grade": "D"}],
    ids=lambda s: next(iter(s)),
)
def test_a_coordinator_cannot_enroll_past_a_neurological_sign(coordinator, today, sign):
    site = coordinator.memberships.get().site
    with pytest.raises(DomainValidationError) as exc:
        services.patient_enroll(actor=coordinator, site=site, patient_data=patient_data(**sign), lesion_data=spine_lesion())
    [message] = exc.value.errors[next(iter(sign))]
    assert "no_neurological_deficit" in message and "impending cord or nerve injury" in message


def test_no_sign_or_grade_e_enrolls(coordinator):
    site = coordinator.memberships.get().site
    patient = services.patient_enroll(
        actor=coordinator, site=site, patient_data=patient_data(frankel_grade="E"), lesion_data=spine_lesion()
    )
    assert patient.frankel_grade == "E" and not patient.protocol_deviation
    assert neurological_signs_present(frankel_grade="E") == () == neurological_signs_present(frankel_grade="")


def test_a_data_manager_enrolls_past_it_as_a_protocol_deviation_with_a_reason(db, coordinator):
    site = coordinator.memberships.get().site
    data_manager = make_user("dm", Role.DATA_MANAGER, None)
    patient = services.patient_enroll(
        actor=data_manager,
        site=site,
        patient_data=patient_data(foot_drop=True),
        lesion_data=spine_lesion(),
        protocol_deviation="Foot drop known for years, stable",
    )
    assert patient.foot_drop and patient.protocol_deviation == "Foot drop known for years, stable"
    with pytest.raises(DomainValidationError):  # without a reason it is refused like for anyone
        services.patient_enroll(
            actor=data_manager, site=site, patient_data=patient_data(foot_drop=True), lesion_data=spine_lesion()
        )
