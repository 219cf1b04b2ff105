"""Who may open the clinical pages of the web UI.

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
from trials.models import Role


def clinical_page(view: Callable) -> Callable:
    """Login required; sponsor-only accounts get 403 (they use the de-identified API)."""

    @login_required
    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if access_for(request.user).is_sponsor_only:
            raise PermissionDenied("Sponsor accounts use the de-identified API, not the clinical pages.")
        return view(request, *args, **kwargs)

    return wrapper


def role_page(*roles: str, allow_superuser: bool = True) -> Callable:
    """Login required and one of ``roles`` (study-wide pages: dashboard, reports)."""

    def decorator(view: Callable) -> Callable:
        @login_required
        @wraps(view)
        def wrapper(request, *args, **kwargs):
            user_roles = access_for(request.user).roles
            if not (user_roles & set(roles) or (allow_superuser and request.user.is_superuser)):
                raise PermissionDenied("This page is for " + ", ".join(Role(r).label for r in roles) + ".")
            return view(request, *args, **kwargs)

        return wrapper

    return decorator


def can_write(user, site_id: int) -> bool:
    return access_for(user).can_write_site(site_id)
