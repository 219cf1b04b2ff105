"""Template context shared by every page: which main pages this user may open."""

from __future__ import annotations

from django.urls import NoReverseMatch, reverse

from trials.access import access_for
from trials.models import Role


def _link(name: str, label: str) -> tuple[str, str] | None:
    try:
        return reverse(name), label
    except NoReverseMatch:
        return None


def registry_nav(request) -> dict:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"nav_links": []}
    access = access_for(user)
    if access.is_sponsor_only:
        return {"nav_links": []}
    links = [_link("worklist", "Worklist"), _link("patient_list", "Patients")]
    if access.roles & {Role.DATA_MANAGER, Role.INVESTIGATOR} or user.is_superuser:
        links.append(_link("dashboard", "Data quality"))
        links.append(_link("reports", "Reports"))
    return {"nav_links": [link for link in links if link]}
