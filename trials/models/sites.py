from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from simple_history.models import HistoricalRecords


class Site(models.Model):
    code = models.CharField(max_length=8, unique=True, help_text="Short upper-case code used in study IDs, e.g. ATL.")
    name = models.CharField(max_length=200)
    country = models.CharField(max_length=2, default="US", help_text="ISO 3166-1 alpha-2")
    active = models.BooleanField(default=True)
    next_patient_number = models.PositiveIntegerField(default=1, editable=False)
    history = HistoricalRecords()

    class Meta:
        ordering = ["code"]
        constraints = [
            models.CheckConstraint(condition=Q(code__regex=r"^[A-Z]{2,8}$"), name="site_code_upper_case"),
        ]

    def __str__(self) -> str:
        return f"{self.code} — {self.name}"


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
                condition=(Q(role__in=list(SITE_ROLES), site__isnull=False) | (~Q(role__in=list(SITE_ROLES)) & Q(site__isnull=True))),
                name="membership_site_matches_role",
            ),
            models.UniqueConstraint(fields=["user", "role", "site"], name="membership_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.user} · {self.get_role_display()}" + (f" @ {self.site.code}" if self.site_id else "")
