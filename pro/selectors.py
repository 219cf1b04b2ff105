"""Read side of the PRO pages: compliance by site × visit, overdue questionnaires, the invitation log."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db.models import Count, F, Q, QuerySet
from django.utils import timezone

from pro.models import Invitation, InvitationEvent, InvitationStatus
from trials.access import scope_queryset
from trials.domain import schedule
from trials.models import Site
from trials.models.sites import site_local_dates, site_today_expression

OPEN = (InvitationStatus.PENDING, InvitationStatus.SENT, InvitationStatus.OPENED)


@dataclass
class ComplianceRow:
    """One site × visit: counts and rates (rates over invited; None when nobody was invited)."""

    site: Site
    visit_code: str
    invited: int
    opened: int
    completed: int
    overdue: int
    expired: int

    @property
    def visit_label(self) -> str:
        return schedule.VISITS_BY_CODE[self.visit_code].label

    def rate(self, n: int) -> float | None:
        return None if not self.invited else n / self.invited

    @property
    def opened_rate(self) -> float | None:
        return self.rate(self.opened)

    @property
    def completed_rate(self) -> float | None:
        return self.rate(self.completed)

    @property
    def overdue_rate(self) -> float | None:
        return self.rate(self.overdue)

    @property
    def expired_rate(self) -> float | None:
        return self.rate(self.expired)


def overdue_q(today_expression) -> Q:
    """Sent, not submitted, the visit's target date passed at the site, the window still open."""
    return Q(
        status__in=(InvitationStatus.SENT, InvitationStatus.OPENED),
        visit__target_date__lt=today_expression,
        expires_at__gt=timezone.now(),
    )


def compliance(user, *, at: dt.datetime | None = None) -> list[ComplianceRow]:
    """Rows per site × follow-up visit (scoped to the user's sites), one aggregate query.

    invited = a message went out (``sent_at``); opened = the link was opened; completed = submitted;
    overdue = open, past the visit's target date (site-local), window not closed; expired = window closed unsubmitted."""
    now = at or timezone.now()
    dates = site_local_dates(now)
    invitations = scope_queryset(user, Invitation.objects.all()).annotate(site_today=site_today_expression(dates=dates))
    rows = (
        invitations.values("patient__site_id", "visit_code")
        .annotate(
            invited=Count("pk", filter=Q(sent_at__isnull=False)),
            opened=Count("pk", filter=Q(opened_at__isnull=False)),
            completed=Count("pk", filter=Q(status=InvitationStatus.SUBMITTED)),
            overdue=Count(
                "pk",
                filter=Q(
                    status__in=(InvitationStatus.SENT, InvitationStatus.OPENED),
                    visit__target_date__lt=F("site_today"),
                    expires_at__gt=now,
                ),
            ),
            expired=Count("pk", filter=Q(status=InvitationStatus.EXPIRED) | Q(status__in=OPEN, expires_at__lte=now)),
        )
        .order_by()
    )
    sites = {s.pk: s for s in Site.objects.all()}
    order = {code: i for i, code in enumerate(schedule.VISIT_CODES)}
    out = [
        ComplianceRow(
            sites[r["patient__site_id"]], r["visit_code"], r["invited"], r["opened"], r["completed"], r["overdue"], r["expired"]
        )
        for r in rows
    ]
    return sorted(out, key=lambda r: (r.site.code, order.get(r.visit_code, 99)))


def overdue_invitations(user, *, at: dt.datetime | None = None, site_id: int | None = None) -> QuerySet[Invitation]:
    """Overdue questionnaires of the user's sites (for the worklist), most urgent (window closing soonest) first."""
    now = at or timezone.now()
    qs = scope_queryset(user, Invitation.objects.all()).annotate(site_today=site_today_expression(at=now))
    qs = qs.filter(
        status__in=(InvitationStatus.SENT, InvitationStatus.OPENED), visit__target_date__lt=F("site_today"), expires_at__gt=now
    )
    if site_id:
        qs = qs.filter(patient__site_id=site_id)
    return qs.select_related("patient", "visit").order_by("window_closes_on", "patient__study_id")


def invitation_log(
    user, *, site_id: int | None = None, visit_code: str | None = None, study_id: str | None = None
) -> QuerySet[InvitationEvent]:
    """Every invitation event of the user's sites, newest first (no contact detail is part of an event)."""
    qs = scope_queryset(user, InvitationEvent.objects.all()).select_related("invitation__patient__site", "actor")
    if site_id:
        qs = qs.filter(invitation__patient__site_id=site_id)
    if visit_code:
        qs = qs.filter(invitation__visit_code=visit_code)
    if study_id:
        qs = qs.filter(invitation__patient__study_id=study_id)
    return qs.order_by("-at", "-id")
