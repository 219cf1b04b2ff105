"""Enrollment shows eligibility per criterion before saving; AE/SRE quick add goes through the services."""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse
from lxml import html

from trials.models import AdverseEvent, Patient, SkeletalEvent

pytestmark = pytest.mark.django_db


def _enroll_post(site, today, *, action="check", worst="8", ecog="1", **lesion) -> dict:
    data = {
        "site": str(site.pk),
        "birth_year": "1960",
        "sex": "F",
        "histology": "breast",
        "ecog": ecog,
        "consent_date": (today - dt.timedelta(days=1)).isoformat(),
        "enrollment_date": today.isoformat(),
        "day0": (today + dt.timedelta(days=3)).isoformat(),
        "screening_worst_pain": worst,
        "life_expectancy_over_3_months": "on",
        "action": action,
        "lesion-region": "spine",
        "lesion-spine_level": "L1",
        "lesion-lesion_type": "lytic",
        "lesion-sins_pain": "mechanical",
        "lesion-sins_alignment": "normal",
        "lesion-sins_collapse": "none",
        "lesion-sins_posterolateral": "none",
        "lesion-bilsky_grade": "1a",
        "lesion-posterior_wall_involved": "unknown",
    }
    data.update({f"lesion-{k}": v for k, v in lesion.items()})
    return data


def _criteria(body: str) -> dict[str, str]:
    rows = html.fromstring(body).xpath('//section[@id="eligibility"]//tr[@data-criterion]')
    return {row.get("data-criterion"): row.xpath("./td")[1].text_content().strip() for row in rows}


def test_check_eligibility_shows_each_criterion_and_saves_nothing(coordinator_client, site, today):
    response = coordinator_client.post(reverse("patient_enroll"), _enroll_post(site, today, worst="3", ecog="3"))
    assert response.status_code == 200
    criteria = _criteria(response.content.decode())
    assert criteria["worst_pain"] == "Not met"
    assert criteria["ecog"] == "Not met"
    assert criteria["high_sre_risk"] == "Met"  # SINS 8 ≥ 7
    assert criteria["age"] == "Met"
    assert Patient.objects.count() == 0


def test_enroll_after_check_creates_the_patient_and_schedule(coordinator_client, site, today):
    response = coordinator_client.post(reverse("patient_enroll"), _enroll_post(site, today, action="enroll"))
    assert response.status_code == 302
    patient = Patient.objects.get()
    assert response["Location"] == reverse("patient_detail", kwargs={"study_id": patient.study_id})
    assert patient.visits.count() == 7


def test_enrolling_an_ineligible_patient_is_refused_with_the_rule(coordinator_client, site, today):
    body = coordinator_client.post(
        reverse("patient_enroll"), _enroll_post(site, today, action="enroll", worst="3")
    ).content.decode()
    assert Patient.objects.count() == 0
    assert "BPI worst pain at baseline must be ≥ 5" in body
    field_errors = html.fromstring(body).xpath('//*[@id="id_screening_worst_pain_error"]')
    assert field_errors and "Eligibility" in field_errors[0].text_content()


def test_lesion_errors_land_beside_lesion_fields(coordinator_client, site, today):
    post = _enroll_post(
        site,
        today,
        action="enroll",
        region="pelvis",
        spine_level="",
        bone="femur",
        mechanical_or_functional_pain="on",
        sins_pain="",
        sins_alignment="",
        sins_collapse="",
        sins_posterolateral="",
        bilsky_grade="",
    )
    body = coordinator_client.post(reverse("patient_enroll"), post).content.decode()
    assert Patient.objects.count() == 0
    assert html.fromstring(body).xpath('//*[@id="id_lesion-bone_error"]')


def test_quick_add_adverse_event(coordinator_client, patient, today):
    url = reverse("adverse_event_add", kwargs={"study_id": patient.study_id})
    data = {
        "term": "Skin burn",
        "onset_date": (today - dt.timedelta(days=2)).isoformat(),
        "sir_grade": "mild",
        "ctcae_grade": "1",
        "relatedness": "procedure",
        "outcome": "recovering",
    }
    response = coordinator_client.post(url, data)
    assert response.status_code == 302
    assert AdverseEvent.objects.get().term == "Skin burn"
    assert "Skin burn" in coordinator_client.get(response["Location"]).content.decode()


def test_adverse_event_rule_error_beside_field(coordinator_client, patient, today):
    url = reverse("adverse_event_add", kwargs={"study_id": patient.study_id})
    data = {
        "term": "Fracture",
        "onset_date": today.isoformat(),
        "sir_grade": "death",
        "ctcae_grade": "3",
        "relatedness": "procedure",
        "outcome": "fatal",
    }
    body = coordinator_client.post(url, data).content.decode()
    assert AdverseEvent.objects.count() == 0
    assert "CTCAE grade 5 go together" in html.fromstring(body).xpath('//*[@id="id_ctcae_grade_error"]')[0].text_content()


def test_quick_add_sre_returns_to_the_visit(coordinator_client, patient, today):
    visit_url = reverse("visit_entry", kwargs={"study_id": patient.study_id, "visit_code": "month3"})
    url = reverse("skeletal_event_add", kwargs={"study_id": patient.study_id}) + f"?next={visit_url}"
    data = {"event_type": "pathologic_fracture", "event_date": today.isoformat(), "location": "L2", "next": visit_url}
    response = coordinator_client.post(url, data)
    assert response["Location"] == visit_url
    assert SkeletalEvent.objects.get().location == "L2"
