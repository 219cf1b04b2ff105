"""Role checks of the API. Row scoping is not decided here but in ``trials.access.scope_queryset``."""

from __future__ import annotations

from rest_framework.exceptions import PermissionDenied
from rest_framework.permissions import SAFE_METHODS, BasePermission

from trials.access import access_for

ROLE_DOC_READ = (
    "coordinators and site investigators read their own sites; investigators and data managers read all sites; "
    "sponsors read all sites de-identified (days from day 0 instead of dates, no free text, age instead of birth year)."
)
ROLE_DOC_WRITE = "coordinators write their own sites; data managers write all sites; everyone else gets 403."
ROLE_DOC_HISTORY = "as for reading the record, except sponsors (403: audit history is not de-identified)."


def is_sponsor_view(request) -> bool:
    """Sponsors (and only sponsors) get de-identified representations."""
    return access_for(request.user).is_sponsor_only


class RegistryRolePermission(BasePermission):
    """Reads need any registry role; writes need a writing role (coordinator, data manager or superuser).

    Which rows, and whether this particular row is writable, is decided by
    ``scope_queryset`` (read → 404) and the services (write → 403).
    """

    message = "Your role does not allow this."

    def has_permission(self, request, view) -> bool:
        user = request.user
        if not (user and user.is_authenticated):
            return False
        access = access_for(user)
        if not access.has_registry_role:
            self.message = "Your account has no registry role."
            return False
        if request.method in SAFE_METHODS and not getattr(view, "write_action", False):
            if getattr(view, "sponsor_forbidden", False) and access.is_sponsor_only:
                self.message = "Sponsors see de-identified data only; audit history is not available to them."
                return False
            return True
        if access.is_sponsor_only:
            self.message = "Sponsor access is read-only."
            return False
        if not (access.writes_all or access.writable_site_ids):
            self.message = "Your role is read-only."
            return False
        return True


class StaffReadPermission(RegistryRolePermission):
    """Reads for staff roles; sponsors get 403 (free text and calendar dates)."""

    def has_permission(self, request, view) -> bool:
        if not super().has_permission(request, view):
            return False
        if access_for(request.user).is_sponsor_only:
            self.message = "Sponsors see de-identified data only; use /api/v1/export/registry.xlsx."
            return False
        return True


class HasRegistryRole(BasePermission):
    """Authenticated with any registry role; the service decides the rest (403 via PermissionDenied)."""

    message = "Your account has no registry role."

    def has_permission(self, request, view) -> bool:
        user = request.user
        return bool(user and user.is_authenticated and access_for(user).has_registry_role)


def require_data_manager(user) -> None:
    """403 unless ``user`` is a data manager (opening and closing queries, locking and unlocking)."""
    if not access_for(user).is_data_manager:
        raise PermissionDenied("Only a data manager may do this.")
