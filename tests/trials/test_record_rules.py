"""Validation is explicit (issue 10, A.4): services call ``validate(instance, rules)``, and the corrections of any
record use the rules written out in ``trials.services.corrections.RECORD_RULES`` — no registry filled at import."""

import datetime as dt

import pytest
from django.apps import apps

from trials import services
from trials.errors import DomainValidationError
from trials.models import ClinicalRecord, Lesion, Procedure
from trials.services import corrections, events, patients, records, treatment

# Clinical records corrected through their own service (the visit form), not through clinical_record_update.
VISIT_SERVICE_MODELS = {"Visit", "PainAssessment", "MedicationUse"}


def test_every_correctable_clinical_model_has_its_rules_written_out():
    correctable = {
        m.__name__
        for m in apps.get_app_config("trials").get_models()
        if issubclass(m, ClinicalRecord) and not m.__name__.startswith("Historical")
    } - VISIT_SERVICE_MODELS
    assert correctable == {m.__name__ for m in corrections.RECORD_RULES}


def test_an_update_checks_the_same_rules_as_entry():
    assert corrections.RECORD_RULES[Lesion].validate is patients.lesion_rules
    assert corrections.RECORD_RULES[Procedure].validate is treatment.procedure_rules
    assert corrections.RECORD_RULES[Procedure].after_update is treatment.procedure_after_update


def test_no_import_time_registry_is_left():
    for module in (records, patients, treatment, events):
        assert not hasattr(module, "register_validator") and not hasattr(module, "_VALIDATORS")


@pytest.mark.django_db
def test_a_correction_is_refused_by_the_entity_rules(patient, coordinator):
    lesion = patient.lesions.get(is_index=True)
    with pytest.raises(DomainValidationError) as exc:
        services.clinical_record_update(
            actor=coordinator, instance=lesion, changes={"bone": "femur"}, reason="Source document check"
        )
    assert exc.value.errors["bone"] == ["A spine lesion is located by level, not bone."]
    lesion.refresh_from_db()
    assert lesion.bone == "" and lesion.version == 1  # nothing written


@pytest.mark.django_db
def test_a_corrected_procedure_date_moves_day0_through_the_written_out_consequence(patient, coordinator):
    procedure = patient.procedures.get(is_index=True)
    new_date = procedure.procedure_date - dt.timedelta(days=1)
    services.clinical_record_update(
        actor=coordinator, instance=procedure, changes={"procedure_date": new_date}, reason="Date transcribed wrongly"
    )
    patient.refresh_from_db()
    assert patient.day0 == new_date
    assert patient.visits.get(visit_code="month12").target_date == new_date + dt.timedelta(days=365)
