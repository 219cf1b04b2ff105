"""Sponsor responses over every endpoint: 0 date-like values and 0 free-text fields."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re

import pytest
from django.urls import reverse
from django.utils import timezone

from tests.api.matrix_cases import ENDPOINTS, detail_kwargs
from tests.factories import if_match
from trials import services
from trials.deidentification import AUDIT_STAMP_FIELDS, FREE_TEXT_FIELDS
from trials.interop.dataset_json import dataset_names
from trials.interop.tabular import EXPORTS

pytestmark = pytest.mark.django_db
DATE_LIKE = re.compile(r"\d{4}-\d{2}-\d{2}")
FORBIDDEN_KEYS = FREE_TEXT_FIELDS | AUDIT_STAMP_FIELDS | {"birth_year", "day0", "void_reason"}


def xlsx_text(response) -> tuple[str, set[str]]:
    """Every cell of every sheet as text, and the header row's names as keys."""
    import openpyxl

    content = b"".join(response.streaming_content) if response.streaming else response.content
    book = openpyxl.load_workbook(io.BytesIO(content), read_only=True)
    cells, keys = [], set()
    for sheet in book.worksheets:
        for index, row in enumerate(sheet.iter_rows(values_only=True)):
            cells += [str(v) for v in row if v is not None]
            if index == 0:
                keys |= {str(v) for v in row if v is not None}
    return "\n".join(cells), keys


def dataset_json_text(body: str) -> tuple[str, set[str]]:
    """A Dataset-JSON file's rows as text and its column names as keys. The header's creation time (and the fileOID
    built from it) is the moment of the request, which tells the sponsor nothing: checked to be "now", then left out."""
    lines = body.splitlines()
    meta = json.loads(lines[0]) if len(lines) > 1 else json.loads(body)
    rows = [json.loads(line) for line in lines[1:]] if len(lines) > 1 else meta.pop("rows")
    for key in ("datasetJSONCreationDateTime", "dbLastModifiedDateTime"):
        stamp = dt.datetime.fromisoformat(meta.pop(key))
        assert abs((timezone.now() - stamp).total_seconds()) < 600, (key, stamp)
    meta.pop("fileOID")
    return json.dumps(meta) + json.dumps(rows), {column["name"] for column in meta["columns"]}


def keys_of(value) -> set[str]:
    if isinstance(value, dict):
        return set(value) | {k for v in value.values() for k in keys_of(v)}
    if isinstance(value, list):
        return {k for v in value for k in keys_of(v)}
    return set()


@pytest.fixture
def sponsor_registry(registry, report_run):
    """Free text that itself holds a date, to prove free text is withheld and not just reformatted."""
    patient = registry.patients["own"]
    coordinator = registry.users["coordinator"]
    services.adverse_event_report(
        actor=coordinator,
        patient=patient,
        data={
            "term": f"Fever first noted {patient.day0 + dt.timedelta(days=3)}",
            "onset_date": patient.day0 + dt.timedelta(days=3),
            "sir_grade": "mild",
            "ctcae_grade": 1,
            "relatedness": "procedure",
            "serious": False,
            "outcome": "recovered",
        },
    )
    ae = patient.adverse_events.first()
    services.clinical_record_update(
        actor=coordinator, instance=ae, changes={"outcome": "recovering"}, reason=f"Call on {patient.day0}"
    )
    registry.report_run = report_run
    return registry


def sponsor_urls(reg) -> list[str]:
    """Every GET endpoint: lists, both sites' records, histories, every export, the schema."""
    urls = []
    for name, cases in ENDPOINTS.items():
        for method, kind in cases:
            if method != "GET" or name in {"api-not-found", "api:docs"}:
                continue
            if name.startswith("api:reportrun-") and name != "api:reportrun-list":
                kwargs = {"pk": reg.report_run.pk} | ({"name": "pain_trajectory.png"} if name.endswith("artifact") else {})
                urls.append(reverse(name, kwargs=kwargs))
            elif name == "api:export":
                urls += [reverse(name, kwargs={"resource": r}) for r in EXPORTS]
            elif name == "api:export-dataset-json":
                urls += [reverse(name, kwargs={"name": d, "fmt": f}) for d in dataset_names() for f in ("json", "ndjson")]
            elif kind in {"detail", "history"}:
                resource = name.split(":")[1].rsplit("-", 1)[0]
                urls += [reverse(name, kwargs=detail_kwargs(resource, reg, t)) for t in ("own", "other")]
            else:
                urls.append(reverse(name))
    urls += ["/api/v1/visits/?page_size=1000", "/api/v1/adverse-events/?onset_day_min=0&onset_day_max=30"]
    return urls


def test_sponsor_responses_hold_no_dates_and_no_free_text(sponsor_registry, capsys):
    client = sponsor_registry.client("sponsor")
    scanned = 0
    for url in sponsor_urls(sponsor_registry):
        response = client.get(url)
        assert response.status_code in (200, 403), (url, response.status_code)
        if response.get("Content-Type") == "image/png":
            text, keys = "", set()
        elif "spreadsheetml" in response.get("Content-Type", ""):
            text, keys = xlsx_text(response)
        elif "/dataset-json/" in url:
            text, keys = dataset_json_text(b"".join(response.streaming_content).decode())
        elif response.streaming:
            text = b"".join(response.streaming_content).decode()
            keys = set(next(csv.reader(io.StringIO(text))))
        else:
            text = response.content.decode()
            keys = keys_of(json.loads(text)) if "json" in response["Content-Type"] else set()
        assert not DATE_LIKE.search(text), f"{url}: date-like value {DATE_LIKE.search(text).group()}"
        # In report runs "name" is an artifact's file name (report.pdf), not a site name.
        forbidden = FORBIDDEN_KEYS - {"name"} if "/reports/" in url else FORBIDDEN_KEYS
        if "schema" not in url:
            assert not (keys & forbidden), f"{url}: free-text/identifying keys {keys & forbidden}"
        scanned += 1
    login = client.post("/api/v1/auth/token/", {"username": "spons", "password": "pw-Secret-123"}, format="json")
    assert login.status_code == 200 and not DATE_LIKE.search(login.content.decode())
    with capsys.disabled():
        print(f"\nsponsor scan: {scanned + 1} responses, 0 date-like values, 0 free-text keys")
    assert scanned > 30


def test_sponsor_sees_days_from_day0_and_age(sponsor_registry):
    patient = sponsor_registry.patients["own"]
    client = sponsor_registry.client("sponsor")
    data = client.get(f"/api/v1/patients/{patient.study_id}/").json()
    assert data["age"] == patient.enrollment_date.year - patient.birth_year
    assert data["enrollment_day"] == (patient.enrollment_date - patient.day0).days
    sre = client.get(f"/api/v1/skeletal-events/{patient.skeletal_events.get().pk}/").json()
    assert sre["event_day"] == 40 and "location" not in sre


def test_sponsor_date_filters_are_refused_day_filters_work(sponsor_registry):
    client = sponsor_registry.client("sponsor")
    refused = client.get("/api/v1/adverse-events/?onset_date_after=2020-01-01")
    assert refused.status_code == 400 and "onset_date_after" in refused.json()["errors"]
    in_range = client.get("/api/v1/adverse-events/?onset_day_min=2&onset_day_max=5").json()["results"]
    assert [ae["onset_day"] for ae in in_range] == [3]


def test_sponsor_is_read_only(sponsor_registry):
    client = sponsor_registry.client("sponsor")
    ae = sponsor_registry.patients["own"].adverse_events.first()
    assert client.patch(f"/api/v1/adverse-events/{ae.pk}/", {"outcome": "fatal", "reason": "x"}, format="json").status_code == 403
    assert client.post(f"/api/v1/adverse-events/{ae.pk}/void/", {"reason": "x"}, format="json", **if_match(ae)).status_code == 403
