"""API fixtures: a token per role, and a small two-site registry built through the services."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from apicore.tokens import api_token_issue
from tests.factories import enroll_patient, make_user, visit_data
from trials import services
from trials.models import Patient, Role, Site

ROLES = ("coordinator", "other_coordinator", "site_investigator", "investigator", "data_manager", "sponsor", "anonymous")


@pytest.fixture(autouse=True)
def _fresh_throttle_cache():
    """Throttle counters live in the cache; every test starts with a clean budget."""
    cache.clear()
    yield
    cache.clear()


def token_client(user) -> APIClient:
    client = APIClient()
    if user is not None:
        secret, _ = api_token_issue(user=user)
        client.credentials(HTTP_AUTHORIZATION=f"Token {secret}")
    return client


@dataclass
class Registry:
    """Two sites (ATL = own, BOS = other) with one fully documented patient each, plus one without a procedure."""

    site: Site
    other_site: Site
    users: dict[str, object]
    patients: dict[str, Patient] = field(default_factory=dict)

    def client(self, role: str) -> APIClient:
        return token_client(self.users.get(role))


def populate_patient(actor, site: Site, today: dt.date) -> Patient:
    """Enrolled 100 days ago with procedure, radiation, a recorded visit, an AE, an SRE and first post-procedure imaging."""
    patient = enroll_patient(actor, site, enrollment_date=today - dt.timedelta(days=100), day0=today - dt.timedelta(days=95))
    services.radiation_record(
        actor=actor,
        patient=patient,
        data={
            "sequence": "after",
            "start_date": patient.day0 + dt.timedelta(days=10),
            "end_date": patient.day0 + dt.timedelta(days=14),
            "total_dose_gy": 20,
            "fractions": 5,
            "technique": "conventional",
        },
    )
    visit = patient.visits.get(visit_code="month1")
    services.visit_record(
        actor=actor,
        visit=visit,
        data=visit_data(
            patient.day0 + dt.timedelta(days=30),
            meds=[{"drug": "oxycodone", "route": "oral", "dose": "10", "unit": "mg", "doses_per_day": "2"}],
        ),
    )
    services.adverse_event_report(
        actor=actor,
        patient=patient,
        data={
            "term": "Skin burn near probe",
            "onset_date": patient.day0 + dt.timedelta(days=1),
            "sir_grade": "mild",
            "ctcae_grade": 1,
            "relatedness": "procedure",
            "serious": False,
            "outcome": "recovered",
        },
    )
    services.skeletal_event_report(
        actor=actor,
        patient=patient,
        data={"event_type": "pathologic_fracture", "event_date": patient.day0 + dt.timedelta(days=40), "location": "L2"},
    )
    services.imaging_assessment_record(
        actor=actor,
        patient=patient,
        data={
            "lesion_instance": 1,
            "assessment_date": patient.day0 + dt.timedelta(days=1),
            "imaging_modality": "mri",
            "first_post_procedure": True,
            "viable_tumour": "none",
        },
    )
    return patient


def populate_exited_patient(actor, site: Site, today: dt.date) -> Patient:
    """Enrolled without a procedure yet; withdrew last week."""
    patient = enroll_patient(
        actor, site, with_procedure=False, enrollment_date=today - dt.timedelta(days=60), day0=today - dt.timedelta(days=55)
    )
    services.study_exit_record(
        actor=actor,
        patient=patient,
        data={
            "exit_type": "withdrawal",
            "exit_date": today - dt.timedelta(days=7),
            "last_contact_date": today - dt.timedelta(days=7),
        },
    )
    return patient


@pytest.fixture
def registry(db, today) -> Registry:
    return registry_build(today)


def registry_build(today: dt.date) -> Registry:
    """The two-site registry of the ``registry`` fixture (also built once per module by test_query_counts.py)."""
    site = Site.objects.create(code="ATL", name="Atlanta General")
    other = Site.objects.create(code="BOS", name="Boston Memorial")
    users = {
        "coordinator": make_user("coord", Role.COORDINATOR, site),
        "other_coordinator": make_user("coord_bos", Role.COORDINATOR, other),
        "site_investigator": make_user("si_atl", Role.SITE_INVESTIGATOR, site),
        "investigator": make_user("inv", Role.INVESTIGATOR, None),
        "data_manager": make_user("dm", Role.DATA_MANAGER, None),
        "sponsor": make_user("spons", Role.SPONSOR, None),
        "anonymous": None,
    }
    reg = Registry(site=site, other_site=other, users=users)
    reg.patients["own"] = populate_patient(users["coordinator"], site, today)
    reg.patients["other"] = populate_patient(users["other_coordinator"], other, today)
    reg.patients["own_exited"] = populate_exited_patient(users["coordinator"], site, today)
    reg.patients["other_exited"] = populate_exited_patient(users["other_coordinator"], other, today)
    return reg


@pytest.fixture
def report_run(db, monkeypatch, settings, tmp_path):
    """A succeeded run with one PNG artifact; new requests are not sent to a worker (no task runs in-request)."""
    from analytics import services as report_services

    settings.MEDIA_ROOT = tmp_path
    monkeypatch.setattr(report_services, "report_run_enqueue", lambda run_id: None)
    run, _ = report_services.report_run_request(actor=None, parameters={}, force=True, enqueue=False)
    report_services.report_run_start(run_id=run.pk)
    run.refresh_from_db()
    run.directory.mkdir(parents=True, exist_ok=True)
    (run.directory / "pain_trajectory.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    (run.directory / "adtte.csv").write_text("study_id,time\nATL-0001,30\n")
    return report_services.report_run_succeed(
        run_id=run.pk,
        fingerprint="f" * 64,
        result={"n_patients": 4, "metadata": {"generated_at": "2026-01-01T00:00:00Z"}},
        artifacts=["pain_trajectory.png", "adtte.csv"],
        timings={"total": 0.1},
    )
