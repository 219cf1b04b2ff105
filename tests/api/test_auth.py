"""Tokens: obtained by login (case-insensitive username), stored hashed, expiring, revocable; throttling → 429."""

from __future__ import annotations

import datetime as dt
import hashlib

import pytest
from django.utils import timezone
from rest_framework.settings import api_settings
from rest_framework.test import APIClient

from tests.factories import make_user
from trials.models import ApiToken, Role

pytestmark = pytest.mark.django_db


@pytest.fixture
def investigator_user(db):
    return make_user("Ines", Role.INVESTIGATOR, None)


def login(client, username="ines", password="pw-Secret-123"):  # noqa: S107 - test fixture password
    return client.post("/api/v1/auth/token/", {"username": username, "password": password}, format="json")


def test_login_returns_token_and_expiry_and_stores_only_the_hash(investigator_user):
    before = timezone.now()
    response = login(APIClient())
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"token", "expires"} and isinstance(body["expires"], int)
    stored = ApiToken.objects.get(user=investigator_user)
    assert stored.key_hash == hashlib.sha256(body["token"].encode()).hexdigest()
    assert body["token"] not in {stored.key_hash, str(stored.pk)}
    assert dt.timedelta(hours=11) < stored.expires_at - before <= dt.timedelta(hours=12, minutes=1)
    assert body["expires"] == int(stored.expires_at.timestamp())


def test_token_authenticates_and_revocation_ends_it(investigator_user):
    token = login(APIClient()).json()["token"]
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    assert client.get("/api/v1/sites/").status_code == 200
    assert client.delete("/api/v1/auth/token/").status_code == 204
    assert client.get("/api/v1/sites/").status_code == 401
    assert ApiToken.objects.get().revoked_at is not None


def test_expired_and_unknown_tokens_are_401(investigator_user):
    token = login(APIClient()).json()["token"]
    ApiToken.objects.update(expires_at=timezone.now() - dt.timedelta(seconds=1))
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    response = client.get("/api/v1/sites/")
    assert response.status_code == 401 and response.json()["code"] == "authentication_failed"
    client.credentials(HTTP_AUTHORIZATION="Token not-a-token")
    assert client.get("/api/v1/sites/").status_code == 401


def test_wrong_password_is_400_naming_the_field(investigator_user):
    response = login(APIClient(), password="wrong")
    assert response.status_code == 400 and "password" in response.json()["errors"]
    assert not ApiToken.objects.exists()


def _with_rates(settings, **overrides) -> None:
    """Lower one throttle rate for this test (read per request by apicore.throttling)."""
    rates = {**api_settings.DEFAULT_THROTTLE_RATES, **overrides}
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": rates}


def test_login_attempts_are_throttled_with_retry_after(investigator_user, settings):
    _with_rates(settings, login="3/minute")
    client = APIClient()
    statuses = [login(client, password="wrong").status_code for _ in range(3)]
    throttled = login(client)  # even the right password waits
    assert statuses == [400, 400, 400]
    assert throttled.status_code == 429 and int(throttled["Retry-After"]) > 0
    assert throttled.json()["code"] == "throttled"


def test_requests_are_throttled_per_user(investigator_user, settings):
    token = login(APIClient()).json()["token"]
    _with_rates(settings, user="5/minute")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    statuses = [client.get("/api/v1/sites/").status_code for _ in range(6)]
    assert statuses == [200] * 5 + [429]
    last = client.get("/api/v1/sites/")
    assert last.status_code == 429 and "Retry-After" in last


def test_account_without_role_is_403(db):
    from django.contrib.auth import get_user_model

    get_user_model().objects.create_user(username="norole", password="pw-Secret-123")
    token = login(APIClient(), username="norole").json()["token"]
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    assert client.get("/api/v1/patients/").status_code == 403
