"""Role-aware home and the coordinator worklist."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.urls import NoReverseMatch, reverse

from trials.access import access_for
from trials.domain.schedule import VisitStatus
from trials.guards import clinical_page
from trials.web.selectors.patients import readable_sites
from trials.web.selectors.worklist import WORKLIST_STATUSES, worklist_for


def _first_page_for(user) -> str | None:
    access = access_for(user)
    if access.is_site_staff:
        return "worklist"
    if access.is_data_manager:
        return "dashboard"
    if access.is_investigator:
        return "reports" if _url_exists("reports") else "patient_list"
    return None


def _url_exists(name: str) -> bool:
    try:
        reverse(name)
    except NoReverseMatch:
        return False
    return True


@login_required
def home(request):
    """Send each role to its main page; sponsors (API only) get a short explanation."""
    target = _first_page_for(request.user)
    if target:
        return redirect(target)
    return render(request, "web/home.html", {"roles": access_for(request.user).roles})


def _int_or_none(value: str | None) -> int | None:
    try:
        return int(value) if value else None
    except ValueError:
        return None


def _row_context(row) -> dict:
    to_target = row.days_to_target()
    return {"row": row, "days_left": max(to_target, 0), "days_late": max(-to_target, 0), "to_close": row.days_to_window_end()}


@clinical_page
def worklist(request):
    sites = list(readable_sites(request.user))
    site_id = _int_or_none(request.GET.get("site"))
    status = request.GET.get("status") or None
    if status not in {s.value for s in WORKLIST_STATUSES}:
        status = None
    data = worklist_for(request.user, site_id=site_id, status=status, page=request.GET.get("page"))
    return render(
        request,
        "web/worklist.html",
        {
            "worklist": data,
            "rows": [_row_context(row) for row in data.rows],
            "sites": sites if len(sites) > 1 else [],
            "site_id": site_id,
            "status": status,
            "statuses": [(s.value, s.value.replace("_", " ")) for s in WORKLIST_STATUSES],
            "missed": VisitStatus.MISSED.value,
            "writable_site_ids": access_for(request.user).writable_site_ids,
            "writes_all": access_for(request.user).writes_all,
        },
    )
