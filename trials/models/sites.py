from __future__ import annotations

import datetime as dt
from collections import defaultdict
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Case, DateField, Q, Value, When
from django.utils import timezone
from simple_history.models import HistoricalRecords


def default_time_zone() -> str:
    """New sites start in the server's configured zone (settings.TIME_ZONE)."""
    return settings.TIME_ZONE


def validate_time_zone(name: str) -> None:
    """Accept only IANA zone names the system's tz database knows (e.g. America/Chicago)."""
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValidationError(f"'{name}' is not an IANA time zone name (e.g. America/Chicago, Europe/Berlin).") from exc


class Site(models.Model):
    code = models.CharField(max_length=8, unique=True, help_text="Short upper-case code used in study IDs, e.g. ATL.")
    name = models.CharField(max_length=200)
    country = models.CharField(max_length=2, default="US", help_text="ISO 3166-1 alpha-2")
    active = models.BooleanField(default=True)
    time_zone = models.CharField(
        max_length=64,
        default=default_time_zone,
        validators=[validate_time_zone],
        help_text="IANA time zone of the site, e.g. America/Chicago: visit due/overdue/missed status uses the site's local date.",
    )
    next_patient_number = models.PositiveIntegerField(default=1, editable=False)
    history = HistoricalRecords()

    class Meta:
        ordering = ["code"]
        constraints = [
            models.CheckConstraint(condition=Q(code__regex=r"^[A-Z]{2,8}$"), name="site_code_upper_case"),
        ]

    def __str__(self) -> str:
        return f"{self.code} — {self.name}"

    def local_date(self, at: dt.datetime | None = None) -> dt.date:
        """The calendar date at the site at instant ``at`` (now by default)."""
        return timezone.localdate(at or timezone.now(), ZoneInfo(self.time_zone))


def site_local_dates(at: dt.datetime | None = None) -> dict[int, dt.date]:
    """Every site's local date at instant ``at`` (now by default): {site id: date}. One query."""
    at = at or timezone.now()
    return {pk: timezone.localdate(at, ZoneInfo(tz)) for pk, tz in Site.objects.values_list("pk", "time_zone")}


def site_today_expression(
    site_field: str = "patient__site_id", at: dt.datetime | None = None, dates: dict[int, dt.date] | None = None
):
    """SQL expression for 'today at the row's site', to annotate and compare against (one CASE over a few sites).

    Sites sharing a date are grouped, so at most a handful of WHEN branches exist whatever the number of sites.
    ``dates`` (from ``site_local_dates``) saves the sites query when the caller already has them.
    """
    groups: dict[dt.date, list[int]] = defaultdict(list)
    for pk, day in (site_local_dates(at) if dates is None else dates).items():
        groups[day].append(pk)
    if len(groups) <= 1:
        return Value(next(iter(groups), timezone.localdate(at)), output_field=DateField())
    whens = [When(**{f"{site_field}__in": ids}, then=Value(day)) for day, ids in sorted(groups.items())]
    return Case(*whens, default=Value(timezone.localdate(at)), output_field=DateField())


class Role(models.TextChoices):
    COORDINATOR = "coordinator", "Site coordinator"
    SITE_INVESTIGATOR = "site_investigator", "Site investigator"
    INVESTIGATOR = "investigator", "Investigator (all sites)"
    DATA_MANAGER = "data_manager", "Data manager (all sites)"
    SPONSOR = "sponsor", "Sponsor (de-identified)"


SITE_ROLES = (Role.COORDINATOR.value, Role.SITE_INVESTIGATOR.value)  # plain, ordered strings: part of a migration


class Membership(models.Model):
    """A user's role; coordinators and site investigators belong to a site, study-wide roles do not."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=32, choices=Role.choices)
    site = models.ForeignKey(Site, on_delete=models.PROTECT, null=True, blank=True, related_name="memberships")
    history = HistoricalRecords()

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=(
                    Q(role__in=list(SITE_ROLES), site__isnull=False) | (~Q(role__in=list(SITE_ROLES)) & Q(site__isnull=True))
                ),
                name="membership_site_matches_role",
            ),
            models.UniqueConstraint(fields=["user", "role", "site"], name="membership_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.user} · {self.get_role_display()}" + (f" @ {self.site.code}" if self.site is not None else "")


class AccountAction(models.TextChoices):
    CREATED = "created", "Account created"
    ROLE_ADDED = "role_added", "Role added"
    ROLE_REMOVED = "role_removed", "Role removed"
    DEACTIVATED = "deactivated", "Account deactivated"
    REACTIVATED = "reactivated", "Account reactivated"


class AccountEvent(models.Model):
    """One change to a user account or its roles, with who made it and why (the users page and the commands).

    Append-only: the audit trail of account administration (issue 11). ``actor``
    is empty when an operator ran a ``manage.py`` command.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="account_events")
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    action = models.CharField(max_length=16, choices=AccountAction.choices)
    detail = models.CharField(max_length=200, blank=True, help_text="E.g. 'Site coordinator @ ATL'.")
    reason = models.TextField()
    at = models.DateTimeField(db_index=True)

    class Meta:
        ordering = ["-at", "-id"]

    def __str__(self) -> str:
        return f"{self.get_action_display()}: {self.user} ({self.detail})"
