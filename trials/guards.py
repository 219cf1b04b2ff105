"""Who may open the pages of the web UI (trials' clinical pages, analytics' reports, pro's questionnaire pages).

Row scoping is ``trials.access.scope_queryset``'s job; this module only keeps
sponsors (de-identified access through the API only, DESIGN.md "Access") and
anonymous users out of pages that show calendar dates.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied

from trials.access import access_for


def clinical_page(view: Callable) -> Callable:
    """Login required; sponsor-only accounts get 403 (they use the de-identified API)."""

    @login_required
    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if access_for(request.user).is_sponsor_only:
            raise PermissionDenied("Sponsor accounts use the de-identified API, not the clinical pages.")
        return view(request, *args, **kwargs)

    return wrapper


def study_page(view: Callable) -> Callable:
    """Login required and ``Access.can_view_reports`` (study-wide pages: dashboard, reports)."""

    @login_required
    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if not access_for(request.user).can_view_reports:
            raise PermissionDenied("This page is for investigators and data managers.")
        return view(request, *args, **kwargs)

    return wrapper


def can_write(user, site_id: int) -> bool:
    return access_for(user).can_write_site(site_id)
