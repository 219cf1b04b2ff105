"""Who may see and write what — the one place object-level scoping is decided.

API viewsets, web views, exports, history and reports all call
``scope_queryset``; none filters by site on its own (DESIGN.md "Access").
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any

from django.core.exceptions import PermissionDenied
from django.db.models import Model, QuerySet

from trials.models import Role, Site

# How each scoped model reaches its site.
SITE_PATHS: dict[str, str] = {
    "site": "id",
    "membership": "site_id",
    "patient": "site_id",
    "lesion": "patient__site_id",
    "procedure": "patient__site_id",
    "radiationcourse": "patient__site_id",
    "visit": "patient__site_id",
    "painassessment": "visit__patient__site_id",
    "medicationuse": "visit__patient__site_id",
    "adverseevent": "patient__site_id",
    "skeletalevent": "patient__site_id",
    "imagingassessment": "patient__site_id",
    "studyexit": "patient__site_id",
    "dataquery": "patient__site_id",
    "dataqueryresponse": "query__patient__site_id",
    "signature": "visit__patient__site_id",
    "lock": "patient__site_id",
    # Patient-reported outcomes (pro/, issue 15)
    "patientcontact": "patient__site_id",
    "invitation": "patient__site_id",
    "invitationevent": "invitation__patient__site_id",
    "questionnaireresponse": "invitation__patient__site_id",
}

READ_ALL_ROLES = {Role.INVESTIGATOR, Role.DATA_MANAGER}
WRITE_ALL_ROLES = {Role.DATA_MANAGER}


class SystemActor:
    """The registry itself acting outside any user's request: command-line exports, seeding, imports run
    by an operator, scheduled jobs. Unscoped on purpose, and only when passed explicitly as ``SYSTEM``;
    ``None`` is not a user and gets no access."""

    is_authenticated = True
    is_superuser = False
    pk = None
    username = "system"

    def __repr__(self) -> str:
        return "SYSTEM"


SYSTEM = SystemActor()


@dataclass
class Access:
    """A user's effective permissions, computed once per request.

    Every role question is a predicate here (``is_data_manager``, ``can_sign(site)``,
    ``can_view_reports``…); services, API permissions and views ask these, never the roles directly.
    """

    user: object

    @property
    def is_system(self) -> bool:
        """The explicit ``SYSTEM`` actor (see ``SystemActor``)."""
        return isinstance(self.user, SystemActor)

    @property
    def is_superuser(self) -> bool:
        return bool(getattr(self.user, "is_superuser", False))

    @cached_property
    def _memberships(self) -> list[tuple[str, int | None]]:
        if self.is_system or not getattr(self.user, "is_authenticated", False):
            return []
        return list(self.user.memberships.values_list("role", "site_id"))  # type: ignore[attr-defined]  # a User here

    @cached_property
    def roles(self) -> set[str]:
        return {role for role, _ in self._memberships}

    @property
    def has_registry_role(self) -> bool:
        """Any registry role (or superuser, or the system): may use the registry at all."""
        return bool(self.roles) or self.is_superuser or self.is_system

    @property
    def is_sponsor_only(self) -> bool:
        return bool(self.roles) and self.roles <= {Role.SPONSOR}

    @property
    def reads_all(self) -> bool:
        return bool(self.roles & READ_ALL_ROLES) or self.is_superuser or self.is_system

    @property
    def writes_all(self) -> bool:
        return bool(self.roles & WRITE_ALL_ROLES) or self.is_superuser or self.is_system

    @cached_property
    def readable_site_ids(self) -> set[int]:
        return {site for role, site in self._memberships if site is not None}

    @cached_property
    def writable_site_ids(self) -> set[int]:
        return {site for role, site in self._memberships if role == Role.COORDINATOR and site is not None}

    def can_read_site(self, site_id: int) -> bool:
        return self.reads_all or self.is_sponsor_only or site_id in self.readable_site_ids

    def can_read_contact(self, site_id: int) -> bool:
        """A patient's e-mail / phone (pro.PatientContact): only the staff of the patient's own site — not data
        managers, investigators, sponsors or superusers (issue 15 §3)."""
        return site_id in self.readable_site_ids

    def can_write_site(self, site_id: int) -> bool:
        return self.writes_all or site_id in self.writable_site_ids

    @property
    def can_request_reports(self) -> bool:
        """May read report runs (sponsors included: aggregates only)."""
        return self.reads_all or Role.SPONSOR in self.roles

    @property
    def can_start_reports(self) -> bool:
        """May start a computation: investigators and data managers, not sponsors (they read reports)."""
        return self.reads_all

    @property
    def is_data_manager(self) -> bool:
        """Data manager (or superuser, or the system): queries, locks, protocol deviations, users, audit log, imports."""
        return Role.DATA_MANAGER in self.roles or self.is_superuser or self.is_system

    @property
    def is_site_staff(self) -> bool:
        """Coordinator or site investigator somewhere: starts on the worklist."""
        return bool(self.roles & {Role.COORDINATOR, Role.SITE_INVESTIGATOR})

    @property
    def is_investigator(self) -> bool:
        """Study-wide (principal) investigator."""
        return Role.INVESTIGATOR in self.roles

    @property
    def can_view_reports(self) -> bool:
        """Study-wide pages with calendar dates: data quality, reports, status matrix, audit log."""
        return self.reads_all

    @property
    def can_enter_data(self) -> bool:
        """May enter clinical data somewhere (a coordinator of a site, or a data manager)."""
        return self.writes_all or bool(self.writable_site_ids)

    @cached_property
    def signable_site_ids(self) -> set[int]:
        return {site for role, site in self._memberships if role == Role.SITE_INVESTIGATOR and site is not None}

    @property
    def is_site_investigator(self) -> bool:
        """Site investigator of at least one site (signs visits there; ``can_sign(site)`` decides which)."""
        return bool(self.signable_site_ids)

    def can_sign(self, site_id: int) -> bool:
        """Site investigator of this site: may sign its visits electronically."""
        return site_id in self.signable_site_ids


def access_for(user) -> Access:
    cached = getattr(user, "_registry_access", None)
    if cached is None:
        cached = Access(user)
        try:
            user._registry_access = cached
        except AttributeError:  # AnonymousUser is immutable enough
            pass
    return cached


def scope_queryset(user, queryset: QuerySet, *, write: bool = False) -> QuerySet:
    """Rows of ``queryset`` this user may read (or write, with ``write=True``).

    Sponsors read every site but only through de-identified serializers; the
    API decides the representation, this function decides the rows.
    """
    access = access_for(user)
    path = SITE_PATHS.get(queryset.model._meta.model_name)
    if path is None:
        raise LookupError(f"{queryset.model.__name__} has no site scoping rule; add it to trials.access.SITE_PATHS")
    if write:
        if access.writes_all:
            return queryset
        return queryset.filter(**{f"{path}__in": access.writable_site_ids})
    if access.reads_all or access.is_sponsor_only:
        return queryset
    return queryset.filter(**{f"{path}__in": access.readable_site_ids})


def require_site_write(user, site: Site | int) -> None:
    site_id = site if isinstance(site, int) else site.pk
    if not access_for(user).can_write_site(site_id):
        raise PermissionDenied("You may not enter or change data for this site.")


def site_of(instance: Model) -> int:
    """The site id ``instance`` belongs to, following ``SITE_PATHS`` (e.g. ``patient__site_id``)."""
    path = SITE_PATHS[str(instance._meta.model_name)]
    obj: Any = instance
    for part in path.split("__"):
        obj = getattr(obj, part)
    return obj
