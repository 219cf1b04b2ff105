"""Coordinator adds, corrects (reason, old → new) and voids every clinical record type from the patient page."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.urls import reverse
from lxml import html

from tests.api.conftest import token_client
from tests.factories import enroll_patient, patient_data, spine_lesion, visit_data
from trials import services
from trials.models import AdverseEvent, Lesion, PainAssessment, Patient, Procedure, RadiationCourse, SkeletalEvent, StudyExit

pytestmark = pytest.mark.django_db


def _errors(body: str, field: str) -> str:
    nodes = html.fromstring(body).xpath(f'//*[@id="id_{field}_error"]')
    return nodes[0].text_content() if nodes else ""


@pytest.fixture
def no_procedure_patient(coordinator, site, today):
    return enroll_patient(
        coordinator, site, with_procedure=False, enrollment_date=today - dt.timedelta(days=20), day0=today - dt.timedelta(days=10)
    )


def test_patient_page_offers_the_index_procedure_when_missing(coordinator_client, no_procedure_patient):
    body = coordinator_client.get(reverse("patient_detail", args=[no_procedure_patient.study_id])).content.decode()
    assert reverse("record_add", args=[no_procedure_patient.study_id, "procedure"]) in body
    assert reverse("record_add", args=[no_procedure_patient.study_id, "exit"]) in body


def test_index_procedure_recorded_from_the_web_moves_day0(coordinator_client, no_procedure_patient, today):
    url = reverse("record_add", args=[no_procedure_patient.study_id, "procedure"])
    when = today - dt.timedelta(days=8)
    post = {
        "procedure_date": when.isoformat(),
        "modality": "MWA",
        "probes": "2",
        "anesthesia": "general",
        "augmentation": "cement",
        "cement_technique": "kyphoplasty",
        "cement_volume_ml": "4.5",
        "cement_leakage": "false",
    }
    response = coordinator_client.post(url, post)
    assert response.status_code == 302, _errors(response.content.decode(), "cement_leakage")
    proc = Procedure.objects.get(patient=no_procedure_patient)
    assert (proc.modality, proc.cement_volume_ml, proc.cement_leakage) == ("MWA", Decimal("4.5"), False)
    assert Patient.objects.get(pk=no_procedure_patient.pk).day0 == when


def test_service_rules_show_beside_the_field(coordinator_client, no_procedure_patient, today):
    url = reverse("record_add", args=[no_procedure_patient.study_id, "procedure"])
    post = {
        "procedure_date": today.isoformat(),
        "modality": "RFA",
        "probes": "1",
        "anesthesia": "local",
        "augmentation": "cement",
    }
    body = coordinator_client.post(url, post).content.decode()
    assert "Cement augmentation needs its technique." in _errors(body, "cement_technique")
    assert not Procedure.objects.exists()


def test_radiation_lesion_and_exit_recorded_from_the_web(coordinator_client, patient, today):
    sid = patient.study_id
    response = coordinator_client.post(
        reverse("record_add", args=[sid, "radiation"]),
        {
            "sequence": "after",
            "start_date": (patient.day0 + dt.timedelta(days=5)).isoformat(),
            "end_date": (patient.day0 + dt.timedelta(days=9)).isoformat(),
            "total_dose_gy": "20",
            "fractions": "5",
            "technique": "sbrt",
            "alpha_beta_gy": "10",
        },
    )
    assert response.status_code == 302
    assert RadiationCourse.objects.get(patient=patient).fractions == 5
    response = coordinator_client.post(
        reverse("record_add", args=[sid, "lesion"]),
        {
            "region": "pelvis",
            "bone": "ilium",
            "laterality": "left",
            "lesion_type": "lytic",
            "posterior_wall_involved": "unknown",
        },
    )
    assert response.status_code == 302
    assert Lesion.objects.get(patient=patient, is_index=False).bone == "ilium"
    response = coordinator_client.post(
        reverse("record_add", args=[sid, "exit"]),
        {
            "exit_type": "death",
            "exit_date": today.isoformat(),
            "death_cause": "Disease progression",
        },
    )
    assert response.status_code == 302
    exit_ = StudyExit.objects.get(patient=patient)
    assert exit_.last_contact_date == today  # a death's last contact is the date of death
    body = coordinator_client.get(reverse("patient_detail", args=[sid])).content.decode()
    assert reverse("record_add", args=[sid, "exit"]) not in body
    assert reverse("record_correct", args=[sid, "exit", exit_.pk]) in body


def test_exit_other_than_death_needs_last_contact(coordinator_client, patient, today):
    body = coordinator_client.post(
        reverse("record_add", args=[patient.study_id, "exit"]),
        {
            "exit_type": "withdrawal",
            "exit_date": today.isoformat(),
        },
    ).content.decode()
    assert "required unless the patient died" in _errors(body, "last_contact_date")
    assert not StudyExit.objects.exists()


@pytest.fixture
def ae(coordinator, patient, today):
    return services.adverse_event_report(
        actor=coordinator,
        patient=patient,
        data={
            "term": "Pain flare",
            "onset_date": today - dt.timedelta(days=3),
            "sir_grade": "mild",
            "ctcae_grade": 1,
            "relatedness": "procedure",
            "outcome": "recovering",
        },
    )


def _ae_post(ae, **changes) -> dict:
    data = {
        "term": ae.term,
        "onset_date": ae.onset_date.isoformat(),
        "sir_grade": ae.sir_grade,
        "ctcae_grade": str(ae.ctcae_grade),
        "relatedness": ae.relatedness,
        "outcome": ae.outcome,
        "expected_version": str(ae.version),
    }
    data.update(changes)
    return data


def test_correction_review_shows_old_and_new_and_saves_nothing(coordinator_client, ae):
    url = reverse("record_correct", args=[ae.patient.study_id, "adverse-event", ae.pk])
    body = coordinator_client.post(
        url, _ae_post(ae, ctcae_grade="2", sir_grade="moderate", reason="Source notes", action="review")
    ).content.decode()
    rows = html.fromstring(body).xpath('//section[@id="changes"]//tbody/tr')
    cells = {
        r.xpath("./td")[0].text_content(): (r.xpath("./td")[1].text_content(), r.xpath("./td")[2].text_content()) for r in rows
    }
    assert cells == {"CTCAE v5.0 grade (1–5)": ("1", "2"), "SIR grade": ("Mild", "Moderate")}
    ae.refresh_from_db()
    assert ae.ctcae_grade == 1


def test_correction_needs_a_reason_and_is_audited(coordinator_client, ae):
    url = reverse("record_correct", args=[ae.patient.study_id, "adverse-event", ae.pk])
    body = coordinator_client.post(url, _ae_post(ae, ctcae_grade="2", sir_grade="moderate", action="save")).content.decode()
    assert "required" in _errors(body, "reason").lower()
    response = coordinator_client.post(
        url, _ae_post(ae, ctcae_grade="2", sir_grade="moderate", action="save", reason="Source notes say grade 2")
    )
    assert response.status_code == 302
    ae.refresh_from_db()
    assert (ae.ctcae_grade, ae.version) == (2, 2)
    assert ae.history.first().history_change_reason == "Source notes say grade 2"


def test_correction_with_nothing_changed_is_refused(coordinator_client, ae):
    url = reverse("record_correct", args=[ae.patient.study_id, "adverse-event", ae.pk])
    body = coordinator_client.post(url, _ae_post(ae, action="save", reason="x")).content.decode()
    assert "Nothing changed" in body
    assert AdverseEvent.objects.get(pk=ae.pk).version == 1


def test_correction_of_a_stale_version_is_a_form_error(coordinator_client, coordinator, ae):
    services.clinical_record_update(actor=coordinator, instance=ae, changes={"term": "Pain flare-up"}, reason="typo")
    url = reverse("record_correct", args=[ae.patient.study_id, "adverse-event", ae.pk])
    body = coordinator_client.post(
        url, _ae_post(ae, ctcae_grade="2", sir_grade="moderate", action="save", reason="x", expected_version="1")
    ).content.decode()
    assert "Reload it and apply your change again" in body


def _records(coordinator, patient, today) -> dict:
    services.radiation_record(
        actor=coordinator,
        patient=patient,
        data={
            "sequence": "after",
            "start_date": patient.day0 + dt.timedelta(days=3),
            "end_date": patient.day0 + dt.timedelta(days=7),
            "total_dose_gy": Decimal("20"),
            "fractions": 5,
            "technique": "sbrt",
        },
    )
    services.skeletal_event_report(
        actor=coordinator, patient=patient, data={"event_type": "pathologic_fracture", "event_date": today}
    )
    services.lesion_add(
        actor=coordinator, patient=patient, lesion_data={"region": "pelvis", "bone": "ilium", "lesion_type": "lytic"}
    )
    return {
        "procedure": Procedure.objects.get(patient=patient),
        "radiation": RadiationCourse.objects.get(patient=patient),
        "lesion": Lesion.objects.get(patient=patient, is_index=False),
        "skeletal-event": SkeletalEvent.objects.get(patient=patient),
    }


@pytest.mark.parametrize("kind", ["procedure", "radiation", "lesion", "skeletal-event", "adverse-event", "exit"])
def test_void_needs_a_reason_and_keeps_the_record(coordinator_client, coordinator, patient, today, ae, kind):
    records = _records(coordinator, patient, today) | {"adverse-event": ae}
    if kind == "exit":
        records["exit"] = services.study_exit_record(
            actor=coordinator, patient=patient, data={"exit_type": "withdrawal", "exit_date": today, "last_contact_date": today}
        )
    record = records[kind]
    url = reverse("record_void", args=[patient.study_id, kind, record.pk])
    page = coordinator_client.get(url).content.decode()
    assert html.fromstring(page).xpath('//dl[@id="record-summary"]/dd')  # the record is shown before voiding
    body = coordinator_client.post(url, {"expected_version": str(record.version), "reason": " "}).content.decode()
    assert "required" in _errors(body, "reason").lower()
    response = coordinator_client.post(url, {"expected_version": str(record.version), "reason": "Entered for the wrong patient"})
    assert response.status_code == 302
    record.refresh_from_db()
    assert record.is_voided and record.void_reason == "Entered for the wrong patient"
    assert coordinator_client.get(url).status_code == 404  # a voided record is no longer offered


def test_voiding_a_visit_clears_its_data_and_keeps_the_slot(coordinator_client, coordinator, patient):
    visit = patient.visits.get(visit_code="month1")
    meds = [{"drug": "oxycodone", "route": "oral", "dose": "10", "unit": "mg", "doses_per_day": "2"}]
    services.visit_record(actor=coordinator, visit=visit, data=visit_data(visit.target_date, meds=meds))
    visit.refresh_from_db()
    url = reverse("record_void", args=[patient.study_id, "visit", visit.pk])
    response = coordinator_client.post(
        url, {"expected_version": str(visit.version), "reason": "Visit belonged to another patient"}
    )
    assert response.status_code == 302
    visit.refresh_from_db()
    assert (visit.visit_date, visit.opioid_status, visit.is_voided) == (None, "unknown", False)
    assert PainAssessment.objects.get(visit=visit).worst is None
    assert not visit.medications.active().exists()
    assert visit.history.first().history_change_reason == "Voided: Visit belonged to another patient"


def test_other_site_cannot_correct_or_void(client, other_coordinator, ae):
    client.force_login(other_coordinator)
    for name in ("record_correct", "record_void"):
        assert client.get(reverse(name, args=[ae.patient.study_id, "adverse-event", ae.pk])).status_code == 404


def test_coordinator_cannot_record_a_protocol_deviation_through_the_api(coordinator, site):
    body = {
        "site": site.code,
        **{k: str(v) for k, v in patient_data().items()},
        "index_lesion": spine_lesion(),
        "protocol_deviation": "Enrolled despite ECOG",
    }
    response = token_client(coordinator).post("/api/v1/patients/", body, format="json")
    assert response.status_code == 400
    assert response.json()["errors"] == {"protocol_deviation": ["Only a data manager may record a protocol deviation."]}
    assert not Patient.objects.exists()
