"""Data manager dashboard (completeness, overdue, out-of-window)."""

from __future__ import annotations

from django.shortcuts import render

from trials.domain.missing import MISSING_CODE_CHOICES
from trials.guards import study_page
from trials.web.selectors.dashboard import dashboard_for


@study_page
def dashboard(request):
    return render(request, "web/dashboard.html", {"d": dashboard_for(request.user), "missing_codes": MISSING_CODE_CHOICES})
