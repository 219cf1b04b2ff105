"""Every API endpoint × every role × {own-site object, other-site object, list} → the expected status, 0 leaks.

The endpoints come from the URL resolver; ``matrix_cases.ENDPOINTS`` must name each one.
"""

from __future__ import annotations

import pytest
from django.db import transaction
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from tests.api.conftest import ROLES
from tests.api.matrix_cases import (
    ENDPOINTS,
    INTEROP_KINDS,
    OBJECT_KINDS,
    UPDATE_PAYLOADS,
    create_payload,
    detail_kwargs,
    expected_status,
    interop_body,
)

pytestmark = pytest.mark.django_db
LEAK_MARKERS = {"ATL": ('"BOS"', "BOS-"), "BOS": ('"ATL"', "ATL-")}
SITE_OF_ROLE = {"coordinator": "ATL", "site_investigator": "ATL", "other_coordinator": "BOS"}


def api_url_names() -> set[str]:
    """Names of every URL pattern under /api/v1/, namespaced like ``reverse`` expects."""
    names: set[str] = set()

    def walk(patterns, namespace: str, inside_api: bool) -> None:
        for entry in patterns:
            if isinstance(entry, URLResolver):
                nested_ns = f"{namespace}{entry.namespace}:" if entry.namespace else namespace
                walk(entry.url_patterns, nested_ns, inside_api or str(entry.pattern) == "api/v1/")
            elif isinstance(entry, URLPattern) and inside_api:
                assert entry.name, f"Unnamed API endpoint {entry.pattern}: name it and add it to ENDPOINTS"
                names.add(namespace + entry.name)

    walk(get_resolver().url_patterns, "", False)
    return names


def test_every_api_endpoint_has_expectations():
    names = api_url_names()
    assert names == set(ENDPOINTS), f"untested: {names - set(ENDPOINTS)}; stale: {set(ENDPOINTS) - names}"


def _url(name: str, kind: str, reg, target: str) -> str:
    if name == "api:reportrun-detail":
        return reverse(name, kwargs={"pk": reg.report_run.pk})
    if name == "api:reportrun-artifact":
        return reverse(name, kwargs={"pk": reg.report_run.pk, "name": "pain_trajectory.png"})
    if name == "api-not-found":
        return "/api/v1/no-such-endpoint/"
    if name == "api:export":
        return reverse(name, kwargs={"resource": "visits"})
    if name == "api:export-dataset-json":
        return reverse(name, kwargs={"name": "adverse-events", "fmt": "json"})
    if kind in OBJECT_KINDS - {"create"}:
        resource = name.split(":")[1].rsplit("-", 1)[0]
        return reverse(name, kwargs=detail_kwargs(resource, reg, target))
    return reverse(name)


def _body(name: str, kind: str, reg, target: str, role: str) -> dict | None:
    resource = name.split(":")[-1].rsplit("-", 1)[0]
    if kind == "create":
        return create_payload(resource, reg, target)
    if kind == "update":
        return {**UPDATE_PAYLOADS[resource], "reason": "Source document verification"}
    if kind == "void":
        return {"reason": "Entered in error"}
    if kind in INTEROP_KINDS:
        return interop_body(name, kind, reg, target)
    if kind == "report_create":
        return {"strata": ["modality"], "force": True}
    if kind == "login":
        user = reg.users[role]
        return {"username": user.username.upper() if user else "nobody", "password": "pw-Secret-123"}
    return None


def _call(client, method: str, url: str, body: dict | None):
    """Run one request in a savepoint that is rolled back, so every case sees the same registry."""
    with transaction.atomic():
        headers = {}
        if method in ("PATCH", "PUT") or url.endswith("/void/"):  # updates and voids name the version they are based on
            current = client.get(url.removesuffix("void/"))
            headers["HTTP_IF_MATCH"] = current.get("ETag") or '"1"'
        call = getattr(client, method.lower())
        response = call(url, body, format="json", **headers) if body is not None else call(url, **headers)
        content = b"".join(response.streaming_content) if response.streaming else response.content
        transaction.set_rollback(True)
    return response.status_code, content.decode(errors="replace")


def test_access_matrix(registry, report_run, capsys):
    registry.report_run = report_run
    clients = {role: registry.client(role) for role in ROLES}
    failures, leaks, count = [], [], 0
    for name, cases in sorted(ENDPOINTS.items()):
        for method, kind in cases:
            targets = ("own", "other") if kind in OBJECT_KINDS else ("list",)
            for role in ROLES:
                for target in targets:
                    url = _url(name, kind, registry, target)
                    status, content = _call(clients[role], method, url, _body(name, kind, registry, target, role))
                    count += 1
                    want = expected_status(kind, method, role, target)
                    if status != want:
                        failures.append(f"{method} {url} as {role} ({target}): {status}, expected {want}: {content[:200]}")
                    if 200 <= status < 300 and role in SITE_OF_ROLE and kind != "public":
                        leaks += [f"{method} {url} as {role}: {m}" for m in LEAK_MARKERS[SITE_OF_ROLE[role]] if m in content]
    with capsys.disabled():
        print(
            f"\naccess matrix: {count} cases over {len(ENDPOINTS)} endpoints × {len(ROLES)} roles; "
            f"{len(failures)} wrong statuses; {len(leaks)} leaks"
        )
    assert not failures, "\n".join(failures)
    assert not leaks, "\n".join(leaks)
    assert count >= 400
