"""Local tumour control follow-up (issue 10, part B): imaging assessments of treated lesions, declared once in
trials.crf, validated by the service with the terms of Ahmed et al., Radiology 2014;273:241, and reaching the API,
the exports (staff and sponsor), ODM, REDCap and the web form."""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest

from tests.api.conftest import token_client
from tests.factories import enroll_patient, make_user
from trials import crf, services
from trials.errors import DomainValidationError
from trials.interop.redcap import dictionary_csv
from trials.models import ImagingAssessment, Role, Site

pytestmark = pytest.mark.django_db


@pytest.fixture
def site(db):
    return Site.objects.create(code="ATL", name="Atlanta")


@pytest.fixture
def coordinator(site):
    return make_user("coord", Role.COORDINATOR, site)


@pytest.fixture
def patient(coordinator, site, today):
    return enroll_patient(coordinator, site, enrollment_date=today - dt.timedelta(days=200), day0=today - dt.timedelta(days=190))


def _data(patient, days, **overrides):
    return {
        "lesion_instance": 1,
        "assessment_date": patient.day0 + dt.timedelta(days=days),
        "imaging_modality": "mri",
        "first_post_procedure": False,
        "viable_tumour": "none",
        **overrides,
    }


def _record(coordinator, patient, days, **overrides):
    return services.imaging_assessment_record(actor=coordinator, patient=patient, data=_data(patient, days, **overrides))


def _refused(coordinator, patient, days, **overrides) -> dict[str, str]:
    """The refusal's messages per field, joined."""
    with pytest.raises(DomainValidationError) as caught:
        _record(coordinator, patient, days, **overrides)
    return {field: " ".join(messages) for field, messages in caught.value.errors.items()}


def test_declared_once_with_standard_terms():
    form = crf.form_of(ImagingAssessment)
    assert form.entered_fields == (
        "lesion_instance",
        "assessment_date",
        "imaging_modality",
        "first_post_procedure",
        "viable_tumour",
        "local_tumour_progression",
        "ltp_date",
    )
    assert dict(form.item("imaging_modality").choices) == {
        "ct": "CT (contrast-enhanced)",
        "mri": "MRI (contrast-enhanced)",
        "pet_ct": "PET-CT",
    }
    assert form.item("local_tumour_progression").label == "Local tumour progression"
    assert form.item("ltp_date").missing_codes == (crf.NOT_RECORDED,) and form.item("assessment_date").kind == crf.Kind.DATE
    assert form.event == crf.ONGOING_EVENT and form.repeating
    variables = {row.split(",")[0] for row in dictionary_csv().splitlines()}
    assert {"imaging_assessment_date", "imaging_local_tumour_progression", "imaging_ltp_date"} <= variables


def test_first_imaging_then_ltp_is_recorded_and_audited(coordinator, patient):
    first = _record(coordinator, patient, 1, first_post_procedure=True)
    ltp = _record(
        coordinator,
        patient,
        120,
        viable_tumour="present",
        local_tumour_progression=True,
        ltp_date=patient.day0 + dt.timedelta(days=118),
    )
    assert (first.repeat_instance, ltp.repeat_instance) == (1, 2)
    assert ltp.history.get().history_change_reason == "Initial entry" and ltp.created_by == coordinator


@pytest.mark.parametrize(
    ("days", "overrides", "field", "message"),
    [
        (-1, {}, "assessment_date", "Must not be before the index procedure"),
        (1, {"lesion_instance": 2}, "lesion_instance", "no treated lesion number 2"),
        (
            60,
            {"viable_tumour": "present", "local_tumour_progression": True},
            "ltp_date",
            "Required when local tumour progression is yes",
        ),
        (60, {"ltp_date": "DAY50"}, "ltp_date", "Leave blank unless local tumour progression is yes"),
        (
            60,
            {"viable_tumour": "present", "local_tumour_progression": True, "ltp_date": "DAY70"},
            "ltp_date",
            "Cannot be after the imaging date",
        ),
        (
            60,
            {"viable_tumour": "present", "local_tumour_progression": True, "ltp_date": "DAY-3"},
            "ltp_date",
            "Must not be before the index procedure",
        ),
        (
            60,
            {"viable_tumour": "none", "local_tumour_progression": True, "ltp_date": "DAY60"},
            "viable_tumour",
            "viable tumour is present",
        ),
        (
            2,
            {"first_post_procedure": True, "viable_tumour": "present", "local_tumour_progression": True, "ltp_date": "DAY2"},
            "local_tumour_progression",
            "cannot be found on the first post-procedure imaging",
        ),
        (1000, {}, "assessment_date", "Cannot be in the future"),
    ],
)
def test_refused_naming_the_field_and_the_rule(coordinator, patient, days, overrides, field, message):
    overrides = {
        k: patient.day0 + dt.timedelta(days=int(v[3:])) if isinstance(v, str) and v.startswith("DAY") else v
        for k, v in overrides.items()
    }
    errors = _refused(coordinator, patient, days, **overrides)
    assert message in errors[field], errors
    assert not ImagingAssessment.objects.exists()


def test_ltp_needs_an_earlier_imaging_showing_complete_ablation(coordinator, patient):
    """Ahmed et al. 2014: LTP is tumour at the ablation margin after a follow-up study documented complete ablation;
    tumour at the first imaging is residual unablated tumour."""
    _record(coordinator, patient, 1, first_post_procedure=True, viable_tumour="present")
    ltp = {"viable_tumour": "present", "local_tumour_progression": True, "ltp_date": patient.day0 + dt.timedelta(days=90)}
    errors = _refused(coordinator, patient, 90, **ltp)
    assert "needs an earlier imaging of this lesion showing complete ablation" in errors["local_tumour_progression"]
    _record(coordinator, patient, 30, viable_tumour="none")
    assert _record(coordinator, patient, 90, **ltp).local_tumour_progression


def test_one_first_post_procedure_imaging_per_lesion_and_it_is_the_earliest(coordinator, patient):
    _record(coordinator, patient, 5, first_post_procedure=True)
    assert "already recorded" in _refused(coordinator, patient, 6, first_post_procedure=True)["first_post_procedure"]
    assert "first post-procedure imaging" in _refused(coordinator, patient, 3)["assessment_date"]


def test_not_after_death_or_exit(coordinator, patient, today):
    death = today - dt.timedelta(days=10)
    services.study_exit_record(actor=coordinator, patient=patient, data={"exit_type": "death", "exit_date": death})
    errors = _refused(coordinator, patient, (death - patient.day0).days + 1)
    assert f"Must not be after the patient's death ({death})" in errors["assessment_date"]
    assert _record(coordinator, patient, (death - patient.day0).days).assessment_date == death


def test_a_death_before_recorded_imaging_is_refused(coordinator, patient, today):
    _record(coordinator, patient, 100, first_post_procedure=True)
    with pytest.raises(DomainValidationError) as caught:
        services.study_exit_record(
            actor=coordinator, patient=patient, data={"exit_type": "death", "exit_date": patient.day0 + dt.timedelta(days=50)}
        )
    assert "imaging follow-up is dated after this date of death" in " ".join(caught.value.errors["exit_date"])


def test_api_staff_and_sponsor_views(coordinator, patient, site):
    client = token_client(coordinator)
    url = "/api/v1/imaging-assessments/"
    body = {**_data(patient, 1, first_post_procedure=True), "patient": patient.study_id}
    body["assessment_date"] = str(body["assessment_date"])
    created = client.post(url, body, format="json")
    assert created.status_code == 201, created.content
    assert created.json()["assessment_date"] == body["assessment_date"]
    bad = client.post(
        url,
        {**body, "assessment_date": str(patient.day0 + dt.timedelta(days=40)), "local_tumour_progression": True},
        format="json",
    )
    assert bad.status_code == 400 and "ltp_date" in bad.json()["errors"], bad.content
    export = b"".join(client.get("/api/v1/export/imaging-assessments.csv").streaming_content).decode()
    rows = list(csv.DictReader(io.StringIO(export)))
    assert rows[0]["assessment_date"] == body["assessment_date"] and rows[0]["viable_tumour"] == "none"
    sponsor = token_client(make_user("spons", Role.SPONSOR, None))
    shown = sponsor.get(url).json()["results"][0]
    assert "assessment_date" not in shown and shown["assessment_day"] == 1, shown
    export = b"".join(sponsor.get("/api/v1/export/imaging-assessments.csv").streaming_content).decode()
    row = next(csv.DictReader(io.StringIO(export)))
    assert row["assessment_day"] == "1" and "assessment_date" not in row and str(patient.day0.year) not in export


def test_web_form_records_and_shows_errors(coordinator, patient, client):
    client.force_login(coordinator)
    url = f"/patients/{patient.study_id}/records/imaging/new/"
    page = client.get(url)
    assert page.status_code == 200 and "Local tumour progression" in page.content.decode()
    data = {k: v for k, v in _data(patient, 40).items() if v is not False}
    data.update(local_tumour_progression="on", viable_tumour="present")
    refused = client.post(url, data)
    assert refused.status_code == 200 and "Required when local tumour progression is yes" in refused.content.decode()
    data.pop("local_tumour_progression")
    data["viable_tumour"] = "none"
    assert client.post(url, data).status_code == 302
    detail = client.get(f"/patients/{patient.study_id}/").content.decode()
    assert "Imaging follow-up" in detail and "MRI (contrast-enhanced)" in detail
