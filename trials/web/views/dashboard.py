"""Data manager dashboard (completeness, overdue, out-of-window)."""

from __future__ import annotations

from django.shortcuts import render

from trials.models import Role
from trials.web.guards import role_page
from trials.web.selectors.dashboard import dashboard_for


@role_page(Role.DATA_MANAGER, Role.INVESTIGATOR)
def dashboard(request):
    return render(request, "web/dashboard.html", {"d": dashboard_for(request.user)})
