"""Users and roles (issue 11 item 7): the data manager's page and the operator's commands, each change audited."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.urls import reverse
from rest_framework.test import APIClient

from apicore.tokens import api_token_issue
from trials.models import AccountEvent, Membership, Role

pytestmark = pytest.mark.django_db
User = get_user_model()
NEW_PASSWORD = "Kestrel-Harbour-42"


def _create(client, **overrides):
    data = {
        "username": "coord2",
        "first_name": "Ana",
        "last_name": "Ruiz",
        "email": "",
        "password": NEW_PASSWORD,
        "role": Role.COORDINATOR,
        "reason": "New coordinator, delegation log signed",
        **overrides,
    }
    return client.post(reverse("user_list"), data)


def test_data_manager_creates_a_coordinator_for_a_site(client, data_manager, site):
    client.force_login(data_manager)
    missing_site = _create(client)
    assert (
        "belongs to a site: choose the site" in missing_site.content.decode()
        and not User.objects.filter(username="coord2").exists()
    )
    no_reason = _create(client, site=site.pk, reason="")
    assert no_reason.status_code == 200 and not User.objects.filter(username="coord2").exists()
    weak = _create(client, site=site.pk, password="123")
    assert "password" in weak.content.decode().lower() and not User.objects.filter(username="coord2").exists()
    response = _create(client, site=site.pk)
    user = User.objects.get(username="coord2")
    assert response.status_code == 302 and response.url == reverse("user_detail", args=[user.pk])
    assert list(user.memberships.values_list("role", "site__code")) == [(Role.COORDINATOR, site.code)]
    assert user.check_password(NEW_PASSWORD) and user.get_full_name() == "Ana Ruiz"
    events = list(AccountEvent.objects.filter(user=user).order_by("at", "id").values_list("action", "actor__username", "reason"))
    assert events == [
        ("created", "dm", "New coordinator, delegation log signed"),
        ("role_added", "dm", "New coordinator, delegation log signed"),
    ]
    membership_history = Membership.history.get(user_id=user.pk)
    assert membership_history.history_change_reason == "New coordinator, delegation log signed"
    assert membership_history.history_user == data_manager
    logged_in = type(client)().post(reverse("login"), {"username": "coord2", "password": NEW_PASSWORD})
    assert logged_in.status_code == 302  # the new account can log in with its initial password


def test_deactivation_ends_sessions_and_revokes_api_tokens(client, data_manager, coordinator):
    other = APIClient()
    secret, token = api_token_issue(user=coordinator)
    other.credentials(HTTP_AUTHORIZATION=f"Token {secret}")
    assert other.get("/api/v1/patients/").status_code == 200
    browser = type(client)()
    browser.force_login(coordinator)
    assert browser.get(reverse("worklist")).status_code == 200

    client.force_login(data_manager)
    url = reverse("user_detail", args=[coordinator.pk])
    refused = client.post(url, {"action": "deactivate", "reason": ""})
    assert refused.status_code == 200 and User.objects.get(pk=coordinator.pk).is_active
    done = client.post(url, {"action": "deactivate", "reason": "Left the site"}, follow=True).content.decode()
    assert "1 session(s) ended, 1 API token(s) revoked" in done
    coordinator.refresh_from_db()
    token.refresh_from_db()
    assert not coordinator.is_active and token.revoked_at is not None
    assert other.get("/api/v1/patients/").status_code == 401
    assert browser.get(reverse("worklist")).status_code == 302  # back to the login page
    event = AccountEvent.objects.get(user=coordinator, action="deactivated")
    assert (event.actor, event.reason) == (data_manager, "Left the site")


def test_roles_are_added_and_removed_with_a_reason(client, data_manager, coordinator, other_site):
    client.force_login(data_manager)
    url = reverse("user_detail", args=[coordinator.pk])
    client.post(
        url, {"action": "add_role", "add-role": Role.SITE_INVESTIGATOR, "add-site": other_site.pk, "add-reason": "Covers Boston"}
    )
    membership = coordinator.memberships.get(role=Role.SITE_INVESTIGATOR)
    assert membership.site == other_site
    client.post(url, {"action": "remove_role", "membership": membership.pk, "reason": "Cover ended"})
    assert not coordinator.memberships.filter(role=Role.SITE_INVESTIGATOR).exists()
    removed = Membership.history.filter(id=membership.pk, history_type="-").get()
    assert removed.history_change_reason == "Cover ended"
    assert list(AccountEvent.objects.filter(user=coordinator).values_list("action", flat=True)) == ["role_removed", "role_added"]


def test_only_data_managers_open_the_users_page(client, coordinator, investigator):
    for user in (coordinator, investigator):
        client.force_login(user)
        response = client.get(reverse("user_list"))
        assert response.status_code == 403 and "for data managers" in response.content.decode()


def test_commands_bootstrap_and_deactivate_without_the_seeder(tmp_path, site):
    secret = tmp_path / "pw"
    secret.write_text(NEW_PASSWORD + "\n")
    call_command(
        "create_registry_user", "dm1", "--role", "data_manager", "--reason", "First data manager", "--password-file", str(secret)
    )
    call_command(
        "create_registry_user",
        "coord_atl",
        "--role",
        "coordinator",
        "--site",
        "atl",
        "--reason",
        "Delegation log",
        "--password-file",
        str(secret),
        "--first-name",
        "Ana",
    )
    assert User.objects.get(username="dm1").memberships.get().role == Role.DATA_MANAGER
    assert User.objects.get(username="coord_atl").memberships.get().site == site
    with pytest.raises(CommandError, match="No site ZZZ"):
        call_command(
            "create_registry_user", "x", "--role", "coordinator", "--site", "ZZZ", "--reason", "r", "--password-file", str(secret)
        )
    with pytest.raises(CommandError, match="site"):
        call_command("create_registry_user", "y", "--role", "coordinator", "--reason", "r", "--password-file", str(secret))
    call_command("deactivate_registry_user", "coord_atl", "--reason", "Left")
    assert not User.objects.get(username="coord_atl").is_active
    event = AccountEvent.objects.get(user__username="coord_atl", action="deactivated")
    assert event.actor is None and event.reason == "Left"
