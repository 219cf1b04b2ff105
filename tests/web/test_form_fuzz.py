"""Hypothesis fuzz of every web form (issue 14): 0 answers ≥ 500.

Each form page is fetched as a user who may use it; the field names are read from the page
itself (so a new field is fuzzed without editing this test), and hypothesis posts adversarial
values for them: empty, huge and negative numbers, impossible dates, control characters and
NUL, scripts, very long text. Bounded and derandomized, so CI runs the same cases every time.
"""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.api.conftest import populate_patient
from tests.factories import make_user
from trials.models import Role, Site
from trials.seeding.accounts import data_manager_admin_permissions

pytestmark = pytest.mark.django_db
EXAMPLES_PER_FORM = 30
FIELD = re.compile(r'<(?:input|select|textarea)\b[^>]*\bname="([^"]+)"[^>]*>', re.IGNORECASE)
HIDDEN_VALUE = re.compile(r'type="hidden"[^>]*\bvalue="([^"]*)"|\bvalue="([^"]*)"[^>]*type="hidden"', re.IGNORECASE)
SKIPPED_FIELDS = {"csrfmiddlewaretoken"}

NASTY = st.sampled_from(
    [
        "",
        " ",
        "0",
        "-1",
        "11",
        "1e309",
        "NaN",
        "inf",
        "-0",
        "99999999999999999999999",
        "3.14159265358979323846",
        "2026-02-30",
        "0000-00-00",
        "9999-12-31",
        "1900-01-01",
        "31/12/2026",
        "yesterday",
        "on",
        "true",
        "null",
        "<script>alert(1)</script>",
        "' OR 1=1 --",
        "é" * 300,
        "x" * 5000,
        "\x00",
        "a\x00b",
        "\u202e",
        "\r\n",
        "🙂",
    ]
)
VALUE = st.one_of(
    NASTY,
    st.text(max_size=40),
    st.integers(min_value=-(10**20), max_value=10**20).map(str),
    st.dates(min_value=dt.date(1, 1, 1)).map(str),
)


def form_fields(page: str) -> tuple[list[str], dict[str, str]]:
    """Visible field names (fuzzed) and hidden fields with their values (kept, so the post reaches the form)."""
    names, hidden = [], {}
    for match in FIELD.finditer(page):
        name = match.group(1)
        if name in SKIPPED_FIELDS:
            continue
        value = HIDDEN_VALUE.search(match.group(0))
        if value:
            hidden[name] = value.group(1) if value.group(1) is not None else value.group(2)
        else:
            names.append(name)
    return list(dict.fromkeys(names)), hidden


@pytest.fixture
def fuzz_registry(db, today, monkeypatch):
    from analytics import services as report_services

    monkeypatch.setattr(report_services, "report_run_enqueue", lambda run_id: None)  # report requests stay queued
    site = Site.objects.create(code="ATL", name="Atlanta General")
    coordinator = make_user("coord", Role.COORDINATOR, site)
    investigator = make_user("inv", Role.INVESTIGATOR, None)
    manager = make_user("dm", Role.DATA_MANAGER, None)
    manager.is_staff = True
    manager.save()
    data_manager_admin_permissions(manager)
    patient = populate_patient(coordinator, site, today)
    return {"coordinator": coordinator, "investigator": investigator, "data_manager": manager, "patient": patient}


def form_pages(reg) -> list[tuple[str, str]]:
    """(role, URL) of every page with a form that writes something."""
    patient = reg["patient"]
    sid = patient.study_id
    ae = patient.adverse_events.get()
    return [
        ("anonymous", "/login/"),
        ("coordinator", "/password/"),
        ("coordinator", "/patients/enroll/"),
        ("coordinator", f"/patients/{sid}/visits/month3/"),
        ("coordinator", f"/patients/{sid}/visits/month1/"),
        ("coordinator", f"/patients/{sid}/adverse-events/new/"),
        ("coordinator", f"/patients/{sid}/skeletal-events/new/"),
        ("coordinator", f"/patients/{sid}/records/radiation/new/"),
        ("coordinator", f"/patients/{sid}/records/exit/new/"),
        ("coordinator", f"/patients/{sid}/records/lesion/new/"),
        ("coordinator", f"/patients/{sid}/records/adverse-event/{ae.pk}/correct/"),
        ("coordinator", f"/patients/{sid}/records/adverse-event/{ae.pk}/void/"),
        ("investigator", "/reports/"),
        ("data_manager", f"/data-management/queries/new/?record=adverseevent&field=outcome&id={ae.pk}"),
        ("data_manager", "/data-management/locks/"),
    ]


def fuzz_form(client: Client, url: str, fields: list[str], hidden: dict[str, str], statuses: dict[int, int]) -> None:
    """POST ``EXAMPLES_PER_FORM`` generated bodies (any subset of ``fields``, plus ``hidden``) to ``url``; fail on any 5xx."""

    @settings(
        max_examples=EXAMPLES_PER_FORM, deadline=None, derandomize=True, database=None, suppress_health_check=list(HealthCheck)
    )
    @given(data=st.fixed_dictionaries({}, optional={name: VALUE for name in fields}))
    def post(data):
        response = client.post(url, {**hidden, **data})
        statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
        assert response.status_code < 500, (url, data, response.status_code)

    post()


def test_web_forms_never_answer_5xx(fuzz_registry, capsys):
    statuses: dict[int, int] = {}
    fuzzed = 0
    for role, url in form_pages(fuzz_registry):
        client = Client(raise_request_exception=False)
        if role != "anonymous":
            client.force_login(fuzz_registry[role])
        page = client.get(url)
        assert page.status_code == 200, (role, url, page.status_code)
        fields, hidden = form_fields(page.content.decode())
        assert fields, f"{url}: no form fields found"

        fuzz_form(client, url, fields, hidden, statuses)
        fuzzed += 1
    with capsys.disabled():
        print(f"\nweb form fuzz: {fuzzed} forms, {sum(statuses.values())} posts, statuses {dict(sorted(statuses.items()))}")
    assert fuzzed == len(form_pages(fuzz_registry)) and not any(code >= 500 for code in statuses)
