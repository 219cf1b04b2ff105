"""One round trip between a record and its service input (issue 10, A.2).

Every field of every form holds a value; a PATCH of one unrelated field through the API and a
correction of one value through a data query must leave every other field exactly as it was.
The fields are enumerated from the models (``entered_fields``), so a field added later is covered
without editing this test — and if it is left empty here, the first test says so.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from decimal import Decimal

import pytest

from tests.api.conftest import token_client
from tests.factories import if_match, make_user, patient_data, spine_lesion
from trials import services
from trials.errors import DomainValidationError
from trials.models import (
    AdverseEvent,
    ImagingAssessment,
    Lesion,
    MedicationUse,
    PainAssessment,
    Patient,
    Procedure,
    RadiationCourse,
    Role,
    Site,
    SkeletalEvent,
    StudyExit,
    Visit,
)
from trials.services.data_queries import data_query_correct, data_query_open
from trials.services.visits import VisitData, entered_fields

# (model, link to its parent, API resource or None when it is edited through its visit)
FORMS = [
    (Patient, "site", "patients"),
    (Lesion, "patient", "lesions"),
    (Procedure, "patient", "procedures"),
    (RadiationCourse, "patient", "radiation-courses"),
    (AdverseEvent, "patient", "adverse-events"),
    (SkeletalEvent, "patient", "skeletal-events"),
    (ImagingAssessment, "patient", "imaging-assessments"),
    (StudyExit, "patient", "study-exits"),
    (Visit, "patient", "visits"),
    (PainAssessment, "visit", None),
    (MedicationUse, "visit", None),
]
# Fields the clinical rules require to be empty for this patient, with the rule.
EMPTY_BY_RULE = {
    (Lesion, "bone"): "a spine lesion is located by its level, not a bone",
    (Procedure, "implant_type"): "cement augmentation has no implant",
}
OXYCODONE = {"drug": "oxycodone", "route": "oral", "dose": "10", "unit": "mg", "doses_per_day": "2"}
IV_MORPHINE = {
    "drug": "morphine",
    "route": "iv",
    "dose": "2",
    "unit": "mg",
    "doses_per_day": "4",
    "mme_factor": "3",
    "factor_source": "Site IV-to-oral conversion table 2024",
}


@pytest.fixture
def full(db):
    """One patient with a value in every field of every form (built through the services)."""
    today = dt.date.today()
    site = Site.objects.create(code="ATL", name="Atlanta General")
    coordinator = make_user("coord", Role.COORDINATOR, site)
    data_manager = make_user("dm", Role.DATA_MANAGER, None)
    enrollment = today - dt.timedelta(days=100)
    patient = services.patient_enroll(
        actor=data_manager,
        site=site,
        patient_data=patient_data(enrollment_date=enrollment, day0=enrollment + dt.timedelta(days=5), ecog=3, frankel_grade="E"),
        lesion_data=spine_lesion(
            laterality="midline", size_mm=35, mechanical_or_functional_pain=True, bilsky_grade="1b", posterior_wall_involved=True
        ),
        protocol_deviation="ECOG 3 at screening; enrolled after sponsor approval",
    )
    services.procedure_record(
        actor=coordinator,
        patient=patient,
        data={
            "procedure_date": patient.day0,
            "modality": "cryo",
            "device": "IceSphere 1.5",
            "probes": 3,
            "ablation_minutes": Decimal("18.5"),
            "thermal_protection": True,
            "neuromonitoring": True,
            "anesthesia": "general",
            "augmentation": "cement",
            "cement_technique": "vertebroplasty",
            "cement_volume_ml": Decimal("3.5"),
            "cement_leakage": True,
            "intent": "local_control",
            "guidance": "robotic",
            "fluoroscopy_seconds": 95,
            "radiation_dose": Decimal("12.40"),
            "radiation_dose_unit": "dap_gycm2",
            "neuromonitoring_type": "both",
            "cement_fill": "partial",
        },
    )
    services.radiation_record(
        actor=coordinator,
        patient=patient,
        data={
            "sequence": "after",
            "start_date": patient.day0 + dt.timedelta(days=10),
            "end_date": patient.day0 + dt.timedelta(days=14),
            "total_dose_gy": 20,
            "fractions": 5,
            "technique": "sbrt",
            "alpha_beta_gy": 10,
        },
    )
    visit = patient.visits.get(visit_code="month1")
    services.visit_record(
        actor=coordinator,
        visit=visit,
        data=VisitData(
            visit_date=patient.day0 + dt.timedelta(days=30),
            pain={
                "worst": 6,
                "least": 2,
                "average": 4,
                "current": 3,
                "general_activity": 5,
                "mood": 4,
                "walking_ability": 6,
                "normal_work": 7,
                "relations": 2,
                "sleep": 5,
                "enjoyment_of_life": 6,
                "relief_pct": 40,
            },
            opioid_status="taking",
            medications=[OXYCODONE, IV_MORPHINE],
        ),
    )
    services.visit_record(
        actor=coordinator,
        visit=patient.visits.get(visit_code="week1"),
        data=VisitData(
            visit_date=None,
            not_done_reason="Patient readmitted to another hospital",
        ),
    )
    services.visit_record(
        actor=coordinator,
        visit=patient.visits.get(visit_code="month3"),
        data=VisitData(
            visit_date=patient.day0 + dt.timedelta(days=88),
            pain={"worst": 5, "least": None},
            opioid_status="none",
            missing_codes={"least": "ASKU"},
        ),
    )
    services.adverse_event_report(
        actor=coordinator,
        patient=patient,
        data={
            "term": "Skin burn near probe",
            "onset_date": patient.day0 + dt.timedelta(days=1),
            "sir_grade": "mild",
            "ctcae_grade": 1,
            "relatedness": "procedure",
            "serious": True,
            "outcome": "recovered",
            "resolution_date": patient.day0 + dt.timedelta(days=9),
        },
    )
    services.skeletal_event_report(
        actor=coordinator,
        patient=patient,
        data={
            "event_type": "pathologic_fracture",
            "event_date": patient.day0 + dt.timedelta(days=40),
            "location": "L2",
            "at_index_lesion": True,
        },
    )
    for days, first, viable, ltp in ((1, True, "none", False), (60, False, "present", True)):
        services.imaging_assessment_record(
            actor=coordinator,
            patient=patient,
            data={
                "lesion_instance": 1,
                "assessment_date": patient.day0 + dt.timedelta(days=days),
                "imaging_modality": "mri",
                "first_post_procedure": first,
                "viable_tumour": viable,
                "local_tumour_progression": ltp,
                "ltp_date": patient.day0 + dt.timedelta(days=days) if ltp else None,
            },
        )
    services.study_exit_record(
        actor=coordinator,
        patient=patient,
        data={
            "exit_type": "death",
            "exit_date": today - dt.timedelta(days=3),
            "last_contact_date": today - dt.timedelta(days=3),
            "death_cause": "Progressive disease",
        },
    )
    return patient, coordinator, data_manager


def _records(patient: Patient) -> dict[type, list]:
    visit_ids = patient.visits.values_list("pk", flat=True)
    return {
        Patient: [Patient.objects.get(pk=patient.pk)],
        Lesion: list(patient.lesions.order_by("pk")),
        Procedure: list(patient.procedures.order_by("pk")),
        RadiationCourse: list(patient.radiation_courses.order_by("pk")),
        AdverseEvent: list(patient.adverse_events.order_by("pk")),
        SkeletalEvent: list(patient.skeletal_events.order_by("pk")),
        ImagingAssessment: list(patient.imaging_assessments.order_by("pk")),
        StudyExit: list(patient.exits.order_by("pk")),
        Visit: list(patient.visits.order_by("pk")),
        PainAssessment: list(PainAssessment.objects.filter(visit_id__in=visit_ids).order_by("pk")),
        MedicationUse: list(MedicationUse.objects.filter(visit_id__in=visit_ids, voided_at__isnull=True).order_by("pk")),
    }


def _snapshot(patient: Patient) -> dict[tuple[str, int, str], object]:
    """Every entered field of every record of the patient, keyed (model, pk, field)."""
    records = _records(patient)
    return {
        (model.__name__, record.pk, name): getattr(record, name)
        for model, parent, _ in FORMS
        for record in records[model]
        for name in entered_fields(model, parent=parent)
    }


def _changed(before: dict, after: dict) -> set[tuple[str, str]]:
    assert before.keys() == after.keys(), "records appeared or disappeared"
    return {(model, name) for (model, pk, name), value in before.items() if after[(model, pk, name)] != value}


def test_every_field_of_every_form_holds_a_value(full):
    patient, _, _ = full
    records = _records(patient)
    empty = [
        f"{model.__name__}.{name}"
        for model, parent, _ in FORMS
        for name in entered_fields(model, parent=parent)
        if (model, name) not in EMPTY_BY_RULE and not any(getattr(r, name) not in (None, "") for r in records[model])
    ]
    assert not empty, f"give these fields a value in the fixture: {empty}"
    assert all(records[model] for model, _, _ in FORMS)


# One unrelated field per resource, PATCHed through the API.
PATCHES = [
    ("patients", Patient, {"histology": "lung"}, {("Patient", "histology")}),
    ("lesions", Lesion, {"size_mm": 40}, {("Lesion", "size_mm")}),
    ("procedures", Procedure, {"device": "IceSphere 2"}, {("Procedure", "device")}),
    ("radiation-courses", RadiationCourse, {"technique": "imrt"}, {("RadiationCourse", "technique")}),
    ("adverse-events", AdverseEvent, {"term": "Skin burn at probe site"}, {("AdverseEvent", "term")}),
    ("skeletal-events", SkeletalEvent, {"location": "L3"}, {("SkeletalEvent", "location")}),
    ("imaging-assessments", ImagingAssessment, {"imaging_modality": "ct"}, {("ImagingAssessment", "imaging_modality")}),
    ("study-exits", StudyExit, {"death_cause": "Pneumonia"}, {("StudyExit", "death_cause")}),
    ("visits", Visit, {"pain": {"mood": 1}}, {("PainAssessment", "mood")}),
]


@pytest.mark.parametrize(("resource", "model", "change", "expected"), PATCHES, ids=[p[0] for p in PATCHES])
def test_api_patch_of_one_field_changes_nothing_else(full, resource, model, change, expected):
    patient, coordinator, _ = full
    record = _records(patient)[model][0] if model is not Visit else patient.visits.get(visit_code="month1")
    key = record.study_id if model is Patient else record.pk
    before = _snapshot(patient)
    response = token_client(coordinator).patch(
        f"/api/v1/{resource}/{key}/", {**change, "reason": "Source document verification"}, format="json", **if_match(record)
    )
    assert response.status_code == 200, response.content
    assert _changed(before, _snapshot(patient)) == expected


def test_visit_patch_keeps_the_opioid_rows_themselves(full):
    """Not only equal values: the same active rows (nothing voided and re-entered) and the same OMED."""
    patient, coordinator, _ = full
    visit = patient.visits.get(visit_code="month1")
    rows, omed = sorted(visit.medications.active().values_list("pk", flat=True)), visit.omed()
    response = token_client(coordinator).patch(
        f"/api/v1/visits/{visit.pk}/", {"opioid_status": "taking", "reason": "SDV"}, format="json", **if_match(visit)
    )
    assert response.status_code == 200, response.content
    visit.refresh_from_db()
    assert sorted(visit.medications.active().values_list("pk", flat=True)) == rows
    assert visit.omed() == omed == Decimal("30") + Decimal("24")  # oxycodone 10 mg × 2 × 1.5 + morphine IV 2 mg × 4 × 3


@pytest.mark.parametrize(
    ("record_of", "field_name", "value", "expected"),
    [
        (lambda v: v.pain, "worst", 5, {("PainAssessment", "worst")}),
        (lambda v: v, "visit_date", None, {("Visit", "visit_date")}),
    ],
    ids=["bpi-item", "visit-date"],
)
def test_data_query_correction_changes_only_the_queried_value(full, record_of, field_name, value, expected):
    patient, coordinator, data_manager = full
    visit = patient.visits.get(visit_code="month1")
    value = visit.visit_date + dt.timedelta(days=1) if value is None else value
    query = data_query_open(actor=data_manager, record=record_of(visit), field_name=field_name, message="Please check")
    before = _snapshot(patient)
    data_query_correct(actor=coordinator, query=query, value=value, reason="Clinic note says otherwise")
    assert _changed(before, _snapshot(patient)) == expected


def test_record_to_input_and_back_is_a_no_op(full):
    patient, coordinator, _ = full
    visit = patient.visits.get(visit_code="month1")
    data = VisitData.from_visit(visit)
    assert data.pain["relief_pct"] == 40 and len(data.medications) == 2
    assert data.medications[1]["mme_factor"] == Decimal("3") and "mme_factor" not in data.medications[0]
    before = _snapshot(patient)
    services.visit_record(actor=coordinator, visit=visit, data=data, reason="Re-saved unchanged")
    assert _changed(before, _snapshot(patient)) == set()


def test_a_field_added_to_the_input_is_read_from_the_record_without_editing_the_helpers(full):
    """``from_visit`` derives its reads from the dataclass fields, so a new input field cannot be left behind."""
    patient, _, _ = full
    visit = patient.visits.get(visit_code="month1")

    @dataclasses.dataclass
    class WithOutOfWindow(VisitData):
        out_of_window: bool | None = None

    assert WithOutOfWindow.from_visit(visit).out_of_window is visit.out_of_window is False
    changed = WithOutOfWindow.from_visit(visit).with_changes(pain={"sleep": 0})
    assert changed.out_of_window is False and changed.pain["sleep"] == 0 and changed.pain["worst"] == 6


def test_with_changes_rejects_a_name_that_is_not_a_visit_field(full):
    patient, _, _ = full
    with pytest.raises(DomainValidationError) as exc:
        VisitData.from_visit(patient.visits.get(visit_code="month1")).with_changes(worst=3)
    assert "worst" in exc.value.errors
