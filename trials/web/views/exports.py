"""The data-management export page: download links; the files are served by the API (the session authenticates there
too)."""

from __future__ import annotations

from django.shortcuts import render

from trials.guards import clinical_page


@clinical_page
def exports(request):
    """Download links; the files are served by the API (the session authenticates there too)."""
    return render(request, "trials/data_management/exports.html", {})
