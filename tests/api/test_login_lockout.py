"""Login protection (issue 14): one lockout for web, admin and API logins; proxy trust; token revocation."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.test import Client
from rest_framework.test import APIClient

from apicore.tokens import api_token_issue
from tests.factories import make_user
from trials.models import ApiToken, Role

pytestmark = pytest.mark.django_db
PASSWORD = "pw-Secret-123"
TOKEN_URL = "/api/v1/auth/token/"


@pytest.fixture
def alice(site):
    return make_user("alice", Role.COORDINATOR, site)


def web_login(client: Client, username: str, password: str, **extra):
    return client.post("/login/", {"username": username, "password": password}, **extra)


def test_thirty_wrong_web_passwords_then_the_right_one_is_refused(alice):
    client = Client()
    answers = [web_login(client, "alice", f"guess-{i}").status_code for i in range(30)]
    assert answers[:4] == [200] * 4  # the form again, "did not match"
    assert set(answers[4:]) == {429}  # the fifth failure locks (AXES_FAILURE_LIMIT = 5)
    right = web_login(client, "alice", PASSWORD)
    assert right.status_code == 429 and "_auth_user_id" not in client.session
    text = right.content.decode()
    assert "Too many failed login attempts" in text and "data manager" in text
    assert right["Retry-After"] == "900"
    # The same lockout holds for the admin login and the API, from another address too (per account).
    admin = Client(REMOTE_ADDR="10.9.9.9").post("/admin/login/", {"username": "alice", "password": PASSWORD})
    assert admin.status_code == 429
    api = APIClient(REMOTE_ADDR="10.9.9.8").post(TOKEN_URL, {"username": "alice", "password": PASSWORD}, format="json")
    assert api.status_code == 429 and api.json()["code"] == "locked_out" and "Too many failed" in api.json()["detail"]


def test_username_case_and_spaces_count_as_one_account(alice):
    client = Client()
    for variant in ("alice", "Alice", "ALICE", " alice", "aLiCe"):
        web_login(client, variant, "wrong")
    assert web_login(Client(REMOTE_ADDR="10.1.1.1"), "alice", PASSWORD).status_code == 429


def test_one_address_guessing_many_accounts_is_locked_out(alice, site):
    make_user("bob", Role.COORDINATOR, site)
    attacker = Client(REMOTE_ADDR="203.0.113.7")
    for index in range(5):
        web_login(attacker, f"user{index}", "wrong")
    assert web_login(attacker, "bob", PASSWORD).status_code == 429  # per address
    assert web_login(Client(REMOTE_ADDR="198.51.100.1"), "bob", PASSWORD).status_code == 302  # bob's account is fine


def test_forty_token_guesses_with_forged_forwarded_for_are_throttled(alice):
    client = APIClient()
    statuses = [
        client.post(
            TOKEN_URL, {"username": "alice", "password": f"guess-{i}"}, format="json", HTTP_X_FORWARDED_FOR=f"198.51.100.{i}"
        ).status_code
        for i in range(40)
    ]
    assert statuses[:4] == [400] * 4  # "Unable to log in"; the fifth failure locks (AXES_FAILURE_LIMIT = 5)
    assert set(statuses[4:]) == {429}
    right = client.post(TOKEN_URL, {"username": "alice", "password": PASSWORD}, format="json", HTTP_X_FORWARDED_FOR="192.0.2.1")
    assert right.status_code == 429 and "token" not in right.json()


def test_drf_throttle_ignores_forged_forwarded_for(alice, settings):
    """Without axes, the DRF login throttle alone keys on the real peer, not the header."""
    settings.AXES_ENABLED = False
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "login": "10/minute"},
    }
    client = APIClient()
    statuses = [
        client.post(
            TOKEN_URL, {"username": "alice", "password": "x"}, format="json", HTTP_X_FORWARDED_FOR=f"198.51.100.{i}"
        ).status_code
        for i in range(40)
    ]
    assert statuses.count(429) == 30


def test_num_proxies_names_which_forwarded_address_is_believed(alice, settings):
    """Behind one proxy, the address our proxy appended (right-most) is the client; the left part is the client's own claim."""
    settings.NUM_PROXIES = 1
    for index in range(5):
        Client(REMOTE_ADDR="10.0.0.2").post(
            "/login/", {"username": f"x{index}", "password": "x"}, HTTP_X_FORWARDED_FOR=f"1.2.3.{index}, 203.0.113.9"
        )
    from_attacker = Client(REMOTE_ADDR="10.0.0.2").post(
        "/login/", {"username": "alice", "password": PASSWORD}, HTTP_X_FORWARDED_FOR="203.0.113.9"
    )
    assert from_attacker.status_code == 429
    from_someone_else = Client(REMOTE_ADDR="10.0.0.2").post(
        "/login/", {"username": "alice", "password": PASSWORD}, HTTP_X_FORWARDED_FOR="203.0.113.10"
    )
    assert from_someone_else.status_code == 302


def test_a_data_manager_unlocks_with_axes_reset(alice):
    for _ in range(6):
        web_login(Client(), "alice", "wrong")
    assert web_login(Client(REMOTE_ADDR="10.2.2.2"), "alice", PASSWORD).status_code == 429
    call_command("axes_reset_username", "alice")
    call_command("axes_reset_ip", "127.0.0.1")
    assert web_login(Client(), "alice", PASSWORD).status_code == 302


def test_a_data_manager_unlocks_in_the_admin(alice):
    from axes.models import AccessAttempt

    from trials.seeding.accounts import data_manager_admin_permissions

    manager = make_user("dm", Role.DATA_MANAGER, None)
    manager.is_staff = True
    manager.save()
    data_manager_admin_permissions(manager)
    for _ in range(5):
        web_login(Client(REMOTE_ADDR="10.3.3.3"), "alice", "wrong")
    assert web_login(Client(REMOTE_ADDR="10.4.4.4"), "alice", PASSWORD).status_code == 429
    admin = Client()
    admin.force_login(manager)
    listing = admin.get("/admin/axes/accessattempt/")
    assert listing.status_code == 200 and "alice" in listing.content.decode()
    for attempt in AccessAttempt.objects.filter(username="alice"):  # one row per address the account was tried from
        assert admin.post(f"/admin/axes/accessattempt/{attempt.pk}/delete/", {"post": "yes"}).status_code == 302
    assert web_login(Client(REMOTE_ADDR="10.4.4.4"), "alice", PASSWORD).status_code == 302


def test_tokens_are_revoked_on_password_change_and_deactivation(alice):
    secret, _ = api_token_issue(user=alice)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {secret}")
    assert client.get("/api/v1/sites/").status_code == 200
    web = Client()
    web.force_login(alice)
    alice.refresh_from_db()
    alice.save(update_fields=["last_login"])  # a login stamp does not revoke anything
    assert client.get("/api/v1/sites/").status_code == 200
    changed = web.post(
        "/password/", {"old_password": PASSWORD, "new_password1": "An0ther-Secret-456", "new_password2": "An0ther-Secret-456"}
    )
    assert changed.status_code == 302
    assert client.get("/api/v1/sites/").status_code == 401
    assert not ApiToken.objects.usable().filter(user=alice).exists()

    second, _ = api_token_issue(user=alice)
    client.credentials(HTTP_AUTHORIZATION=f"Token {second}")
    assert client.get("/api/v1/sites/").status_code == 200
    user = get_user_model().objects.get(pk=alice.pk)
    user.is_active = False
    user.save()
    assert not ApiToken.objects.filter(user=alice, revoked_at__isnull=True).exists()
    user.is_active = True
    user.save()  # reactivation does not bring the old token back
    assert client.get("/api/v1/sites/").status_code == 401
