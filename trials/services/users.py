"""User accounts and roles, managed by a data manager (web page) or an operator (``manage.py`` commands).

Every change needs a reason and writes an ``AccountEvent`` (who, when, what,
why); role changes also go to the membership's own history with the reason.
Deactivation ends the account's sessions and revokes its API tokens at once,
and keeps the account (no deletes: its name stays on everything it signed).
``actor=None`` means an operator at the command line.
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.contrib.sessions.models import Session
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from trials.access import access_for
from trials.errors import DomainValidationError, ErrorCollector
from trials.models import AccountAction, AccountEvent, ApiToken, Membership, Role, Site
from trials.models.base import stamp_history
from trials.models.sites import SITE_ROLES
from trials.services.text import require_clean_text

User = get_user_model()


def _require_manager(actor) -> None:
    if actor is not None and not access_for(actor).is_data_manager:
        raise PermissionDenied("Only a data manager may manage user accounts.")


def _reason(reason: str | None) -> str:
    if not reason or not reason.strip():
        raise DomainValidationError(
            {"reason": "A reason is required for every change to an account (it goes in the audit trail)."}
        )
    require_clean_text(reason, "reason")
    return reason.strip()


def _event(user, actor, action: str, reason: str, detail: str = "") -> AccountEvent:
    return AccountEvent.objects.create(
        user=user, actor=actor, action=action, detail=detail[:200], reason=reason, at=timezone.now()
    )


def role_label(role: str, site: Site | None) -> str:
    """'Site coordinator @ ATL' / 'Data manager (all sites)'."""
    return Role(role).label + (f" @ {site.code}" if site is not None else "")


def _check_role(role: str, site: Site | None, errors: ErrorCollector) -> None:
    if role not in Role.values:
        errors.add("role", "Choose one of: " + ", ".join(Role.labels) + ".")
    elif role in SITE_ROLES and site is None:
        errors.add("site", f"A {Role(role).label.lower()} belongs to a site: choose the site.")
    elif role not in SITE_ROLES and site is not None:
        errors.add("site", f"A {Role(role).label.lower()} works across sites: leave the site empty.")


@transaction.atomic
def user_create(
    *,
    actor,
    username: str,
    password: str,
    role: str,
    site: Site | None = None,
    reason: str | None,
    first_name: str = "",
    last_name: str = "",
    email: str = "",
):
    """Create an active account with one role (site roles need ``site``); the password must pass the validators."""
    _require_manager(actor)
    reason = _reason(reason)
    errors = ErrorCollector()
    username = (username or "").strip()
    if not username:
        errors.add("username", "A username is required.")
    elif User.objects.filter(username__iexact=username).exists():
        errors.add("username", f"The username {username} is taken.")
    _check_role(role, site, errors)
    for name, value in (("first_name", first_name), ("last_name", last_name), ("email", email)):
        try:
            require_clean_text(value, name)
        except DomainValidationError as exc:
            errors.add(name, exc.errors[name][0])
    candidate = User(username=username, first_name=first_name.strip(), last_name=last_name.strip(), email=email.strip())
    try:
        validate_password(password or "", candidate)
    except ValidationError as exc:
        for message in exc.messages:
            errors.add("password", message)
    errors.raise_if_any()
    candidate.set_password(password)
    candidate.save()
    _event(candidate, actor, AccountAction.CREATED, reason, f"{candidate.get_full_name() or username}")
    role_add(actor=actor, user=candidate, role=role, site=site, reason=reason)
    return candidate


@transaction.atomic
def role_add(*, actor, user, role: str, site: Site | None = None, reason: str | None) -> Membership:
    """Give ``user`` a role (at a site for site roles)."""
    _require_manager(actor)
    reason = _reason(reason)
    errors = ErrorCollector()
    _check_role(role, site, errors)
    errors.raise_if_any()
    membership = Membership(user=user, role=role, site=site)
    stamp_history(membership, actor, reason)
    try:
        with transaction.atomic():
            membership.save()
    except IntegrityError as exc:
        raise DomainValidationError({"role": f"{user.get_username()} already has the role {role_label(role, site)}."}) from exc
    _event(user, actor, AccountAction.ROLE_ADDED, reason, role_label(role, site))
    return membership


@transaction.atomic
def role_remove(*, actor, membership: Membership, reason: str | None) -> None:
    """Take a role away (the membership's history keeps it, with the reason)."""
    _require_manager(actor)
    reason = _reason(reason)
    if actor is not None and membership.user_id == actor.pk and membership.role == Role.DATA_MANAGER:
        raise DomainValidationError({"role": "You cannot remove your own data manager role; ask another data manager."})
    label = role_label(membership.role, membership.site)
    stamp_history(membership, actor, reason)
    membership.delete()  # the historical row (type "-") keeps who, when and why
    _event(membership.user, actor, AccountAction.ROLE_REMOVED, reason, label)


def sessions_end(user) -> int:
    """Delete every session of ``user``; returns how many."""
    ended = [
        s.pk
        for s in Session.objects.filter(expire_date__gt=timezone.now())
        if s.get_decoded().get("_auth_user_id") == str(user.pk)
    ]
    Session.objects.filter(pk__in=ended).delete()
    return len(ended)


@transaction.atomic
def user_deactivate(*, actor, user, reason: str | None) -> dict[str, int]:
    """Deactivate: no more log-ins, every session ended and every API token revoked. Returns the counts."""
    _require_manager(actor)
    reason = _reason(reason)
    if actor is not None and user.pk == actor.pk:
        raise DomainValidationError({"user": "You cannot deactivate your own account."})
    if not user.is_active:
        raise DomainValidationError({"user": f"{user.get_username()} is already deactivated."})
    tokens = ApiToken.objects.filter(user=user, revoked_at__isnull=True).count()
    user.is_active = False
    user.save(update_fields=["is_active"])  # trials.login_protection revokes every usable API token on deactivation
    sessions = sessions_end(user)
    _event(user, actor, AccountAction.DEACTIVATED, reason, f"{sessions} session(s) ended, {tokens} API token(s) revoked")
    return {"sessions": sessions, "tokens": tokens}


@transaction.atomic
def user_reactivate(*, actor, user, reason: str | None) -> None:
    """Allow log-ins again (revoked tokens stay revoked: the user creates new ones)."""
    _require_manager(actor)
    reason = _reason(reason)
    if user.is_active:
        raise DomainValidationError({"user": f"{user.get_username()} is already active."})
    user.is_active = True
    user.save(update_fields=["is_active"])
    _event(user, actor, AccountAction.REACTIVATED, reason)
