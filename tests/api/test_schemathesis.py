"""schemathesis against the live WSGI app: ≥ 1,000 generated cases over every operation, a token per role.

Checks: no server error, and status code, content type, headers and body conform to /api/v1/schema/.
Each operation's cases rotate through the roles so that every role's representation is validated.
"""

from __future__ import annotations

import itertools

import pytest
import schemathesis
from django.core.wsgi import get_wsgi_application
from hypothesis import HealthCheck, Phase, given, settings
from rest_framework.settings import api_settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from apicore.tokens import api_token_issue
from tests.api.conftest import ROLES

pytestmark = pytest.mark.django_db
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
EXAMPLES_PER_OPERATION = 24
MINIMUM_CASES = 1000


def test_schemathesis_all_operations_all_roles(registry, report_run, settings_override, capsys):
    schema = schemathesis.openapi.from_wsgi("/api/v1/schema/", get_wsgi_application())
    tokens = {role: api_token_issue(user=user)[0] for role, user in registry.users.items() if user is not None}
    roles = itertools.cycle(ROLES)
    total, statuses = 0, {}
    for result in schema.get_all_operations():
        calls = exercise(result.ok(), lambda case: authorization(next(roles), registry, tokens, case))
        total += len(calls)
        for status in calls:
            statuses[status] = statuses.get(status, 0) + 1
    with capsys.disabled():
        print(f"\nschemathesis: {total} cases, statuses {dict(sorted(statuses.items()))}")
    assert total >= MINIMUM_CASES
    assert not any(status >= 500 for status in statuses)


def exercise(operation, auth_headers) -> list[int]:
    """Run generated cases of one operation; returns the statuses seen (a failed check raises)."""
    calls: list[int] = []

    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        deadline=None,
        derandomize=True,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy())
    def run(case):
        generated = {k: v for k, v in (case.headers or {}).items() if k.lower() != "authorization"}
        case.headers = {**generated, **auth_headers(case)}
        response = case.call()
        case.validate_response(response, checks=CHECKS)
        calls.append(response.status_code)

    run()
    return calls


def authorization(role: str, registry, tokens: dict[str, str], case) -> dict[str, str]:
    """The role's token header; revoking (DELETE /auth/token/) gets a throwaway token so the shared ones survive."""
    if role == "anonymous":
        return {}
    if case.method == "DELETE" and case.path.endswith("/auth/token/"):
        return {"Authorization": f"Token {api_token_issue(user=registry.users[role])[0]}"}
    return {"Authorization": f"Token {tokens[role]}"}


@pytest.fixture(autouse=True)
def keep_test_connection_open():
    """Calling the WSGI app directly fires request_started/finished, whose close_old_connections would
    close the test's (transaction-wrapped) PostgreSQL connection; Django's own test client disconnects it the same way."""
    from django.core.signals import request_finished, request_started
    from django.db import close_old_connections

    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


@pytest.fixture
def settings_override(settings):
    """Generous throttle rates: the fuzzer must not trip them (test_auth proves throttling separately)."""
    rates = {**api_settings.DEFAULT_THROTTLE_RATES, "user": "100000/minute", "anon": "100000/minute", "login": "100000/minute"}
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": rates}
    return settings
