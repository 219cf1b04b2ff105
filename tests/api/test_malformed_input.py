"""Malformed input gets a 4xx in the one JSON error shape, never a 500 (issue 14).

Kinds: a deeply nested JSON body (RecursionError, even before login), a forged pagination cursor,
NUL characters in paths, query strings, JSON values and form fields, a 10 MB body, and any
unexpected error under /api/.
"""

from __future__ import annotations

import base64
import json

import pytest
from django.test import Client
from django.urls import reverse

from tests.api.matrix_cases import ENDPOINTS, detail_kwargs

pytestmark = pytest.mark.django_db
ERROR_KEYS = {"status", "code", "detail", "errors"}
TOO_DEEP_FOR_PYTHON = "[" * 100_000 + "]" * 100_000  # json.loads raises RecursionError
TOO_DEEP_FOR_THE_API = json.dumps({"reason": "x", "a": json.loads("[" * 40 + "1" + "]" * 40)})


def assert_error_shape(response, status: int) -> dict:
    assert response.status_code == status, (response.status_code, response.content[:300])
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) == ERROR_KEYS and body["status"] == status
    return body


def write_urls(registry) -> list[tuple[str, str]]:
    """(method, url) of every API operation that takes a JSON body."""
    cases = []
    for name, operations in ENDPOINTS.items():
        for method, kind in operations:
            if method not in {"POST", "PATCH"}:
                continue
            if kind in {"create", "login", "dm_create", "report_create"}:
                cases.append((method, reverse(name)))
            else:
                resource = name.split(":")[1].rsplit("-", 1)[0]
                cases.append((method, reverse(name, kwargs=detail_kwargs(resource, registry, "own"))))
    return cases


@pytest.mark.parametrize("body", [TOO_DEEP_FOR_PYTHON, TOO_DEEP_FOR_THE_API], ids=["recursion", "depth-40"])
def test_deeply_nested_json_is_a_400_on_every_write(registry, body):
    cases = write_urls(registry)
    assert len(cases) >= 25
    nested_refusals = 0
    for role in ("anonymous", "data_manager", "coordinator"):
        client = registry.client(role)
        for method, url in cases:
            response = client.generic(method, url, body, content_type="application/json", HTTP_IF_MATCH='"1"')
            assert response.status_code < 500, (role, method, url, response.status_code)
            error = assert_error_shape(response, response.status_code)
            nested_refusals += "nested deeper than 32" in error["detail"]
    assert nested_refusals >= len(cases)  # every operation refused it for at least one role
    # before login: the token endpoint parses the body for anyone
    token = Client().post("/api/v1/auth/token/", TOO_DEEP_FOR_PYTHON, content_type="application/json")
    assert assert_error_shape(token, 400)["code"] == "parse_error"


@pytest.mark.parametrize(
    "cursor",
    [
        "cD1hYmM=",  # p=abc
        base64.b64encode(b"p=99999999999999999999999").decode(),  # beyond bigint
        base64.b64encode(b"p=-1").decode(),
        base64.b64encode(b"o=x").decode(),
        "%%%not-base64",
        base64.b64encode("p=١٢".encode()).decode(),  # Arabic-Indic digits: isdigit() but not an id
    ],
)
def test_forged_cursor_is_a_400_naming_cursor(registry, cursor):
    client = registry.client("data_manager")
    for url in ("/api/v1/visits/", "/api/v1/reports/"):
        response = client.get(url, {"cursor": cursor})
        assert "cursor" in assert_error_shape(response, 400)["errors"]


def test_a_real_cursor_still_pages(registry):
    client = registry.client("data_manager")
    first = client.get("/api/v1/visits/?page_size=3").json()
    second = client.get(first["next"]).json()
    assert second["results"] and {v["id"] for v in second["results"]}.isdisjoint({v["id"] for v in first["results"]})


def test_nul_characters_are_refused_at_the_edge(registry):
    api = registry.client("coordinator")
    patient = registry.patients["own"]
    assert_error_shape(api.get("/api/v1/visits/%00/"), 400)
    assert "site" in assert_error_shape(api.get("/api/v1/visits/?site=AT%00L"), 400)["errors"]
    assert "si\x00te" in assert_error_shape(api.get("/api/v1/visits/?si%00te=ATL"), 400)["errors"]
    ae = {
        "patient": patient.study_id,
        "term": "Fever\u0000",
        "onset_date": str(patient.day0),
        "sir_grade": "mild",
        "ctcae_grade": 1,
        "relatedness": "procedure",
        "serious": False,
        "outcome": "recovered",
    }
    refused = api.post("/api/v1/adverse-events/", ae, format="json")
    assert list(assert_error_shape(refused, 400)["errors"]) == ["term"]  # the field is named
    nested = api.post("/api/v1/adverse-events/", {**ae, "term": "ok", "extra": [{"x": "a\x00"}]}, format="json")
    assert list(assert_error_shape(nested, 400)["errors"]) == ["extra[0].x"]
    assert patient.adverse_events.count() == 1  # nothing was written
    escaped_backslash = api.post(
        "/api/v1/adverse-events/", json.dumps({**ae, "term": "C:\\u0000 path"}), content_type="application/json"
    )
    assert escaped_backslash.status_code == 201  # the text \u0000 (escaped backslash) is not a NUL
    # the web UI and unauthenticated requests too
    web = Client()
    assert web.get("/login/?next=/%00").status_code == 400
    assert web.post("/login/", {"username": "coord\x00", "password": "x"}).status_code == 400
    assert web.get("/patients/%00/").status_code == 400
    assert web.get("/login/?next=/%2500").status_code == 200  # an encoded percent sign is fine


def test_a_10_mb_body_is_a_413_in_the_json_shape(registry):
    client = registry.client("coordinator")
    big = json.dumps({"term": "x" * (10 * 1024 * 1024)})
    response = client.post("/api/v1/adverse-events/", big, content_type="application/json")
    assert assert_error_shape(response, 413)["code"] == "too_large"
    anonymous = Client().post("/api/v1/auth/token/", big, content_type="application/json")
    assert_error_shape(anonymous, 413)
    form = "username=" + "x" * (10 * 1024 * 1024) + "&password=x"
    web = Client().post("/login/", form, content_type="application/x-www-form-urlencoded")
    assert web.status_code == 413 and b"larger than" in web.content
    multipart = Client().post("/login/", {"username": "x" * (10 * 1024 * 1024), "password": "x"})
    assert multipart.status_code == 400  # Django's own limit on form fields: a 4xx page, not a 500


def test_an_unexpected_error_under_api_is_json(registry, monkeypatch):
    from trials.api.viewsets import resources

    def broken(self, request, *args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(resources.SiteViewSet, "list", broken)
    client = registry.client("data_manager")
    client.raise_request_exception = False
    body = assert_error_shape(client.get("/api/v1/sites/"), 500)
    assert body["code"] == "server_error" and "boom" not in json.dumps(body)
    web = Client(raise_request_exception=False)
    assert web.get("/api/v1/nothing-here/").json()["code"] == "not_found"
