"""The invitation job (issue 15 §2): invitations when a visit window opens, reminders that stop, exactly once.

``run(now)`` is what the beat task calls (``pro.tasks.send_invitations``, hourly; a site's messages go out on the
first tick at or after ``PRO_SEND_FROM_HOUR`` site-local time, so the job is daily per site whatever its time zone):

1. **stop** — open invitations whose window closed (expired), whose patient exited (stopped), whose visit staff
   entered, or whose contact was erased get their reminders stopped, with an ``InvitationEvent`` saying why
   (``pro.stopping``, in batches);
2. **create** — every follow-up visit whose window is open today at its site (site-local date, never before consent),
   without data, of a consenting patient with an e-mail and no study exit, gets its ``Invitation`` (one per visit);
3. **send** — messages a dead process left unconfirmed for ``PRO_SENDING_TIMEOUT_SECONDS`` are logged ``failed``
   ("interrupted") and become due again; then the pending invitations, then the reminders due
   (``PRO_REMINDER_OFFSETS_DAYS`` after the invitation, while the window is open), in batches of
   ``PRO_SEND_BATCH_SIZE`` (``pro.dispatch``): a short transaction locks the batch's rows (``FOR UPDATE SKIP
   LOCKED``: a second tick running at the same time takes other rows), checks every stop condition under the lock
   and commits the messages' ``InvitationEvent`` rows (unique per invitation, kind and number) in a *sending* state;
   the messages go out over the tick's SMTP connections with no lock held; a second short transaction records them.
   Two overlapping ticks therefore send each message once; a failed message is logged ``failed`` and retried by the
   next tick.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Exists, OuterRef
from django.db.models.constants import OnConflict
from django.utils import timezone

from pro import dispatch
from pro.emails import Composer, Mailer
from pro.models import EventKind, Invitation, PatientContact, window_expiry
from pro.services import default_instruments
from pro.stopping import exited, stop_finished
from trials.domain import schedule
from trials.models import Site, Visit

logger = logging.getLogger("pro.sending")


@dataclass
class RunResult:
    """Counts of one run (logged; the benchmark reads them). ``claimed``: invitations this run locked to send;
    ``failed``: messages that did not go out (logged ``failed``; the next tick retries them); ``interrupted``:
    messages a dead process left unconfirmed, made due again."""

    created: int = 0
    invited: int = 0
    reminded: int = 0
    stopped: int = 0
    failed: int = 0
    interrupted: int = 0
    claimed: int = 0
    seconds: float = 0.0
    phase_seconds: dict[str, float] = field(default_factory=dict)
    sites_sending: list[str] = field(default_factory=list)


def visit_codes() -> tuple[str, ...]:
    """Visits patients are invited for: the follow-ups (``PRO_VISIT_CODES``; baseline is collected in clinic)."""
    return tuple(getattr(settings, "PRO_VISIT_CODES", schedule.FOLLOW_UP_CODES))


def sending_sites(now: dt.datetime, *, any_hour: bool = False) -> dict[int, dt.date]:
    """{site id: site-local date} of the sites where it is at least ``PRO_SEND_FROM_HOUR`` local time at ``now``
    (every active site with ``any_hour``)."""
    out = {}
    for pk, tz in Site.objects.filter(active=True).values_list("pk", "time_zone"):
        local = timezone.localtime(now, ZoneInfo(tz))
        if any_hour or local.hour >= settings.PRO_SEND_FROM_HOUR:
            out[pk] = local.date()
    return out


def _by_date(sites: dict[int, dt.date]) -> dict[dt.date, list[int]]:
    by_date: dict[dt.date, list[int]] = {}
    for pk, day in sites.items():
        by_date.setdefault(day, []).append(pk)
    return by_date


def create_due(now: dt.datetime, sites: dict[int, dt.date]) -> int:
    """Create the invitations of visits whose window is open today at their site; returns how many were created."""
    if not sites:
        return 0
    instruments = default_instruments()
    contacts = PatientContact.objects.filter(patient_id=OuterRef("patient_id"), consented=True, erased_at__isnull=True).exclude(
        email_encrypted=""
    )
    created = 0
    for day, site_ids in _by_date(sites).items():
        visits = (
            Visit.objects.filter(
                patient__site_id__in=site_ids,
                visit_code__in=visit_codes(),
                window_start__lte=day,
                window_end__gte=day,
                patient__consent_date__lte=day,
                visit_date__isnull=True,
                not_done_reason="",
                voided_at__isnull=True,
                patient__voided_at__isnull=True,
            )
            .filter(Exists(contacts))
            .exclude(exited())
            .exclude(Exists(Invitation.objects.filter(visit_id=OuterRef("pk"))))
            .order_by("pk")  # overlapping ticks insert in the same order: one waits for the other, no deadlock
            .values_list(
                "pk",
                "patient_id",
                "visit_code",
                "window_start",
                "window_end",
                "patient__consent_date",
                "patient__site__time_zone",
            )
        )
        rows = list(visits)
        if not rows:
            continue
        languages = dict(
            PatientContact.objects.filter(patient_id__in={r[1] for r in rows}).values_list("patient_id", "preferred_language")
        )
        batch = [
            Invitation(
                patient_id=patient_id,
                visit_id=visit_id,
                visit_code=code,
                window_opens_on=max(start, consent),
                window_closes_on=end,
                expires_at=window_expiry(end, tz),
                language=languages.get(patient_id, "en"),
            )
            for visit_id, patient_id, code, start, end, consent, tz in rows
        ]
        with transaction.atomic():
            ids = _insert_new(batch)
            through = Invitation.instruments.through
            through.objects.bulk_create(
                [through(invitation_id=i, instrument_id=instrument.pk) for i in ids for instrument in instruments],
                batch_size=5000,
            )
        created += len(ids)
    return created


def _insert_new(invitations: list[Invitation]) -> list[int]:
    """Insert ``invitations`` with ``INSERT … ON CONFLICT DO NOTHING RETURNING id`` (in chunks the backend accepts)
    and return the ids of the rows actually inserted: a visit whose invitation another tick (or a coordinator's
    "Send now") inserted meanwhile is skipped, neither counted nor given instruments here."""
    if not invitations:
        return []
    meta = Invitation._meta
    fields = [f for f in meta.concrete_fields if not f.primary_key and not f.generated]
    size = max(1, min(2000, connection.ops.bulk_batch_size(fields, invitations)))
    ids: list[int] = []
    for start in range(0, len(invitations), size):
        # Django's own insert (bulk_create's), asking for the ids back: bulk_create(ignore_conflicts=True) cannot
        rows = Invitation.objects.all()._insert(  # type: ignore[attr-defined]
            invitations[start : start + size], fields=fields, returning_fields=[meta.pk], on_conflict=OnConflict.IGNORE
        )
        ids.extend(row[0] for row in rows if row is not None)  # a single-row insert that conflicted returns None
    return ids


def run(now: dt.datetime | None = None, *, any_hour: bool = False) -> RunResult:
    """One tick of the job (stop, create, send invitations, send reminders). Safe to run twice at once; call it
    outside a transaction (no row lock may be held while messages go out).

    ``any_hour``: ignore ``PRO_SEND_FROM_HOUR`` (the demo seeding and the benchmark)."""
    started = time.perf_counter()
    now = now or timezone.now()
    result = RunResult()
    result.stopped = stop_finished(now)
    result.interrupted = dispatch.resolve_interrupted(now)
    result.phase_seconds["stop"] = time.perf_counter() - started
    sites = sending_sites(now, any_hour=any_hour)
    result.sites_sending = sorted(Site.objects.filter(pk__in=sites).values_list("code", flat=True))
    result.created = create_due(now, sites)
    result.phase_seconds["create"] = time.perf_counter() - started - result.phase_seconds["stop"]
    composer = Composer()
    with Mailer() as mailer:
        for today, site_ids in _by_date(sites).items():
            for kind in (EventKind.INVITED, EventKind.REMINDED):
                queryset = dispatch.due(kind, now=now, today=today).filter(patient__site_id__in=site_ids)
                outcome = dispatch.send_due(kind, queryset, now=now, today=today, mailer=mailer, composer=composer)
                if kind == EventKind.INVITED:
                    result.invited += outcome.sent
                else:
                    result.reminded += outcome.sent
                result.failed += outcome.failed
                result.claimed += outcome.claimed
    result.seconds = time.perf_counter() - started
    result.phase_seconds["send"] = result.seconds - result.phase_seconds["stop"] - result.phase_seconds["create"]
    logger.info(
        "PRO invitations: %s created, %s invited, %s reminded, %s stopped, %s failed, %s interrupted (%s claimed) in %.1f s",
        result.created,
        result.invited,
        result.reminded,
        result.stopped,
        result.failed,
        result.interrupted,
        result.claimed,
        result.seconds,
    )
    return result
