"""Template context shared by every page: which main pages this user may open (the menu, per role).

A link whose page is not installed (``NoReverseMatch``) is left out, so the
menu never offers a dead end.
"""

from __future__ import annotations

from django.urls import NoReverseMatch, reverse

from trials.access import access_for


def _link(name: str, label: str) -> tuple[str, str] | None:
    try:
        return reverse(name), label
    except NoReverseMatch:
        return None


def nav_links_for(user) -> list[tuple[str, str]]:
    """(url, label) of the main pages ``user``'s roles open, in menu order."""
    if user is None or not user.is_authenticated:
        return []
    access = access_for(user)
    if access.is_sponsor_only:
        return []
    links = [_link("worklist", "Worklist"), _link("patient_list", "Patients"), _link("status_matrix", "Record status")]
    links.append(_link("dm_queries", "Queries"))
    links.append(_link("pro_compliance", "Questionnaires"))
    if access.can_view_reports:
        links += [_link("dashboard", "Data quality"), _link("reports", "Reports")]
    if access.is_data_manager:
        links += [
            _link("dm_locks", "Locks"),
            _link("dm_exports", "Exports"),
            _link("dm_imports", "Imports"),
            _link("user_list", "Users"),
            _link("audit_log", "Audit log"),
        ]
    elif access.can_view_reports:
        links += [_link("dm_exports", "Exports"), _link("audit_log", "Audit log")]
    if user.is_staff:
        links.append(_link("admin:index", "Admin"))
    return [link for link in links if link]


def registry_nav(request) -> dict:
    return {"nav_links": nav_links_for(getattr(request, "user", None))}
