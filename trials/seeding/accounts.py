"""Sites and demo accounts for the synthetic registry."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.db import transaction

from trials.models import Membership, Role, Site
from trials.seeding.profile import SITE_CATALOGUE


def site_catalogue(n: int) -> list[tuple[str, str, str]]:
    sites = list(SITE_CATALOGUE[:n])
    letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    i = 0
    while len(sites) < n:  # beyond the catalogue: SAA, SAB, …
        code = "S" + letters[i // 26 % 26] + letters[i % 26]
        sites.append((code, f"Synthetic site {code}", "US"))
        i += 1
    return sites


@transaction.atomic
def sites_ensure(n: int) -> list[Site]:
    out = []
    for code, name, country in site_catalogue(n):
        site, _ = Site.objects.get_or_create(code=code, defaults={"name": name, "country": country})
        out.append(site)
    return out


def _account(username: str, password: str, role: str, site: Site | None, **extra) -> tuple[str, str]:
    User = get_user_model()
    user, _ = User.objects.get_or_create(username=username, defaults=extra)
    for key, value in extra.items():
        setattr(user, key, value)
    user.set_password(password)
    user.save()
    Membership.objects.get_or_create(user=user, role=role, site=site)
    return username, f"{Role(role).label}" + (f" @ {site.code}" if site else "")


@transaction.atomic
def demo_accounts_ensure(sites: list[Site], password: str) -> list[tuple[str, str]]:
    """Demo logins: coordinator_<code lower>, site_investigator_<code> per site; investigator, datamanager, sponsor."""
    accounts = []
    for site in sites:
        accounts.append(_account(f"coordinator_{site.code.lower()}", password, Role.COORDINATOR, site))
        accounts.append(_account(f"site_investigator_{site.code}", password, Role.SITE_INVESTIGATOR, site))
    accounts.append(_account("investigator", password, Role.INVESTIGATOR, None))
    accounts.append(_account("datamanager", password, Role.DATA_MANAGER, None, is_staff=True))
    data_manager_admin_permissions(get_user_model().objects.get(username="datamanager"))
    accounts.append(_account("sponsor", password, Role.SPONSOR, None))
    return accounts


def system_user():
    """The account that seeded rows are attributed to in the audit trail."""
    User = get_user_model()
    user, _ = User.objects.get_or_create(username="system", defaults={"is_active": False})
    return user


def data_manager_admin_permissions(user) -> None:
    """Admin access for a data manager: view every registry model, manage sites and memberships, and unlock
    logins (view and delete django-axes access attempts: deleting one lifts that lockout)."""
    from django.contrib.auth.models import Permission

    perms = Permission.objects.filter(content_type__app_label__in=["trials", "analytics"], codename__startswith="view_")
    manage = Permission.objects.filter(
        content_type__app_label="trials", content_type__model__in=["site", "membership"], codename__regex=r"^(add|change)_"
    )
    unlock = Permission.objects.filter(
        content_type__app_label="axes",
        content_type__model="accessattempt",
        codename__in=["view_accessattempt", "delete_accessattempt"],
    )
    user.user_permissions.add(*perms, *manage, *unlock)
