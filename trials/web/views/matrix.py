"""Record status matrix page: patients × visits per site, filterable by site and status, paginated."""

from __future__ import annotations

from django.core.paginator import Paginator
from django.shortcuts import render
from django.utils import timezone

from trials.domain import schedule
from trials.models.sites import site_local_dates
from trials.web.guards import clinical_page
from trials.web.selectors.patients import readable_sites
from trials.web.selectors.status_matrix import FILTERS, FLAGS, LEGEND, matrix_patients, matrix_rows

PAGE_SIZE = 50


def _int_or_none(value: str | None) -> int | None:
    try:
        return int(value) if value else None
    except ValueError:
        return None


@clinical_page
def status_matrix(request):
    """One row per patient (50 a page), one cell per scheduled visit; a constant number of queries per page."""
    dates = site_local_dates()  # each site's calendar date: statuses follow the site's time zone
    sites = list(readable_sites(request.user))
    site_id = _int_or_none(request.GET.get("site"))
    status = request.GET.get("status") or None
    if status not in dict(FILTERS):
        status = None
    paginator = Paginator(matrix_patients(request.user, site_id=site_id, status=status, dates=dates), PAGE_SIZE)
    page = paginator.get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(request, "web/status_matrix.html", {
        "page": page, "rows": matrix_rows(list(page.object_list), dates), "visits": schedule.VISIT_CHOICES,
        "sites": sites, "site_id": site_id, "status": status, "filters": FILTERS, "states": LEGEND,
        "flags": FLAGS.values(), "query": query.urlencode(), "today": timezone.localdate(),
    })
