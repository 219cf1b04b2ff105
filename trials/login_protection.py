"""Login protection shared by the web ``/login/``, the admin login and ``POST /api/v1/auth/token/``.

All three go through ``django.contrib.auth.authenticate``; django-axes (first in
``AUTHENTICATION_BACKENDS``) refuses a locked-out account or address before the password is
checked, and its signal handler counts each failure. Lockout is per account *and* per address
(``AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]``): ``AXES_FAILURE_LIMIT`` failures
for one username from anywhere, or from one address for any usernames, lock for
``AXES_COOLOFF_TIME``. Attempts live in the database by default, or in the shared Redis cache
when one is configured, so every gunicorn worker sees the same counts.

A data manager (or any staff user with the admin) unlocks early: ``python manage.py
axes_reset_username <username>`` / ``axes_reset_ip <address>``, or delete the row under
Admin → Axes → Access attempts.

API tokens of a user are revoked when their password changes or the account is deactivated
(``revoke_tokens_on_credential_change``). This one is a signal on purpose: a password can be
changed by the web form, the admin, ``changepassword`` or a shell, and a signal is the only
place that sees every one of them.
"""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db.models.signals import post_save, pre_save
from django.http import HttpResponse, JsonResponse
from django.template.loader import render_to_string
from django.utils import timezone


def lockout_minutes() -> int:
    cool_off = settings.AXES_COOLOFF_TIME
    return max(1, round(cool_off.total_seconds() / 60)) if isinstance(cool_off, dt.timedelta) else 0


def lockout_message() -> str:
    """The human explanation shown on the login page and in the API error."""
    minutes = lockout_minutes()
    wait = f"Try again in {minutes} minutes" if minutes else "Ask a data manager to unlock it"
    return (
        "Too many failed login attempts for this account or from this network address, so logging in is "
        f"locked. {wait}, or ask a data manager to unlock it sooner. If you have forgotten your password, "
        "ask a data manager to reset it."
    )


def lockout_username(request, credentials) -> str | None:
    """Usernames are case-insensitive (``trials.backends``), so "Alice" and "alice " count as one account."""
    field = getattr(settings, "AXES_USERNAME_FORM_FIELD", "username")
    value = (credentials or {}).get(field)
    if value is None:
        data = getattr(request, "data", None) or getattr(request, "POST", {})
        value = data.get(field) if hasattr(data, "get") else None
    # At most 150 characters, Django's username length: a longer name cannot be an account, and the lockout
    # table's column must not refuse it (a 500 instead of "wrong username or password").
    return str(value).strip().lower()[:150] if value is not None else None


def lockout_response(request, original_response=None, credentials=None) -> HttpResponse:
    """429 with Retry-After: the API's JSON error shape under /api/, a page in human words elsewhere."""
    from apicore.errors import error_body

    message = lockout_message()
    response: HttpResponse
    if request.path.startswith("/api/"):
        response = JsonResponse(error_body(429, "locked_out", message), status=429)
    else:
        response = HttpResponse(render_to_string("registration/locked_out.html", {"message": message}, request), status=429)
    minutes = lockout_minutes()
    if minutes:
        response["Retry-After"] = str(minutes * 60)
    return response


def _credentials_changed(user) -> bool:
    if user.pk is None:
        return False
    previous = type(user)._default_manager.filter(pk=user.pk).values("password", "is_active").first()
    if previous is None:
        return False
    return previous["password"] != user.password or (previous["is_active"] and not user.is_active)


def mark_credential_change(sender, instance, update_fields=None, **kwargs) -> None:
    if update_fields is not None and not {"password", "is_active"} & set(update_fields):
        return  # e.g. the last_login stamp written at every login
    instance._revoke_api_tokens = _credentials_changed(instance)


def revoke_tokens_on_credential_change(sender, instance, **kwargs) -> None:
    """Revoke every usable API token of a user whose password changed or who was deactivated."""
    if getattr(instance, "_revoke_api_tokens", False):
        from trials.models import ApiToken

        ApiToken.objects.filter(user=instance, revoked_at__isnull=True).update(revoked_at=timezone.now())
        instance._revoke_api_tokens = False


def connect_signals() -> None:
    user_model = get_user_model()
    pre_save.connect(mark_credential_change, sender=user_model, dispatch_uid="trials.tokens.mark")
    post_save.connect(revoke_tokens_on_credential_change, sender=user_model, dispatch_uid="trials.tokens.revoke")
