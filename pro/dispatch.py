"""Sending the job's messages in batches, each message exactly once (issue 15 §2).

A batch is one transaction with a constant number of queries, whatever its size:

1. **claim** — up to ``PRO_SEND_BATCH_SIZE`` due invitations (id order, after a cursor) are locked with
   ``SELECT … FOR UPDATE OF pro_invitation SKIP LOCKED``: a second tick running at the same time skips them and
   claims others. Every stop condition is in the claim's ``WHERE``, checked under the lock: status open, reminders
   not stopped, window not closed, visit not entered by staff, no study exit, a consented unerased contact with an
   e-mail, and no event yet for this message. The same query reads the site, the visit and the encrypted address.
2. **log** — the messages' ``InvitationEvent`` rows (unique per invitation, kind and number:
   ``pro_event_message_once``) and their link tokens' hashes are inserted in bulk *before* any message leaves;
3. **send** — the addresses are decrypted in memory and the messages go out over the tick's connections
   (``pro.emails.Mailer``: ``PRO_SMTP_CONNECTIONS`` threads, each its own SMTP connection), each message on its own,
   so a refused recipient fails alone;
4. **record** — the sent invitations are updated in one ``bulk_update``. A message that failed has its event and
   token deleted again (inside the same uncommitted transaction, so they never existed for anyone else), gets a
   ``failed`` event (exception class only, never an address) and stays due: the next tick retries it.

The transaction commits after its messages left, as the one-message version did: a crash between an SMTP exchange
and the commit can repeat that batch's messages on the next tick (at least once across crashes); overlapping ticks
never send a message twice (the row locks, and the unique event row behind them).
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Count, Exists, OuterRef, QuerySet
from django.utils import timezone

from pro import crypto, tokens
from pro.emails import Composer, Mailer
from pro.models import EventKind, Invitation, InvitationEvent, InvitationStatus, InvitationToken, TokenChannel
from pro.stopping import OPEN_STATUSES, batch_size, exited

logger = logging.getLogger("pro.sending")

CLAIM_FIELDS = (
    "pk",
    "visit_code",
    "window_closes_on",
    "language",
    "status",
    "sent_at",
    "reminders_sent",
    "patient__site__name",
    "patient__site__time_zone",
    "patient__pro_contact__email_encrypted",
)


@dataclass
class Claimed:
    """One claimed invitation, as read by the claim query (``CLAIM_FIELDS``); ``sequence``: the message's number."""

    pk: int
    visit_code: str
    window_closes_on: dt.date
    language: str
    status: str
    sent_at: dt.datetime | None
    reminders_sent: int
    site_name: str
    time_zone: str
    email_encrypted: str
    sequence: int = 0


@dataclass
class Outcome:
    """Messages of one or more batches: sent, failed (retried next tick), claimed but not due after all."""

    sent: int = 0
    failed: int = 0
    skipped: int = 0
    claimed: int = 0

    def add(self, other: Outcome) -> None:
        self.sent, self.failed = self.sent + other.sent, self.failed + other.failed
        self.skipped, self.claimed = self.skipped + other.skipped, self.claimed + other.claimed


def reminder_date(sent_at: dt.datetime | None, reminders_sent: int, time_zone: str, closes_on: dt.date) -> dt.date | None:
    """Site-local date the next reminder is due: the invitation's site-local date + ``PRO_REMINDER_OFFSETS_DAYS[n]``
    (n = reminders sent so far); None when every reminder went out or the next would fall after ``closes_on``."""
    offsets = settings.PRO_REMINDER_OFFSETS_DAYS
    if sent_at is None or reminders_sent >= len(offsets):
        return None
    due = timezone.localtime(sent_at, ZoneInfo(time_zone)).date() + dt.timedelta(days=offsets[reminders_sent])
    return due if due <= closes_on else None


def due(kind: str, *, now: dt.datetime, today: dt.date) -> QuerySet[Invitation]:
    """Invitations whose ``kind`` message (invited, reminded, resent) may go out now: every stop condition."""
    queryset = (
        Invitation.objects.filter(
            status__in=OPEN_STATUSES,
            expires_at__gt=now,
            visit__visit_date__isnull=True,
            visit__not_done_reason="",
            patient__pro_contact__consented=True,
            patient__pro_contact__erased_at__isnull=True,
            patient__pro_contact__email_encrypted__gt="",
        )
        .exclude(exited())
        .order_by("pk")
    )
    if kind == EventKind.RESENT:  # staff's re-send: any open invitation already invited
        return queryset.exclude(status=InvitationStatus.PENDING)
    message = InvitationEvent.objects.filter(invitation_id=OuterRef("pk"), kind=kind)
    if kind == EventKind.INVITED:
        return queryset.filter(
            status=InvitationStatus.PENDING, window_opens_on__lte=today, reminders_stopped_at__isnull=True
        ).exclude(Exists(message.filter(sequence=0)))
    return queryset.filter(
        status__in=(InvitationStatus.SENT, InvitationStatus.OPENED),
        reminders_stopped_at__isnull=True,
        next_reminder_on__lte=today,
    ).exclude(Exists(message.filter(sequence=OuterRef("reminders_sent") + 1)))


def claim(queryset: QuerySet[Invitation], *, after: int = 0, limit: int = 100) -> list[Claimed]:
    """Lock (``FOR UPDATE SKIP LOCKED``, call inside a transaction) and read up to ``limit`` rows with id > ``after``."""
    rows = queryset.filter(pk__gt=after).select_for_update(skip_locked=True, of=("self",)).values_list(*CLAIM_FIELDS)
    return [Claimed(*row) for row in rows[:limit]]


def _detail(kind: str, sequence: int) -> str:
    if kind == EventKind.REMINDED:
        return f"Reminder {sequence}"
    if kind == EventKind.RESENT:
        return f"Re-sent ({sequence})"
    return ""


def _number(kind: str, rows: list[Claimed], today: dt.date) -> tuple[list[Claimed], int]:
    """Give each row its message number; drop a reminder that is not due after all. Returns (rows, dropped)."""
    if kind == EventKind.REMINDED:
        kept = []
        for row in rows:
            when = reminder_date(row.sent_at, row.reminders_sent, row.time_zone, row.window_closes_on)
            if when is not None and when <= today:
                row.sequence = row.reminders_sent + 1
                kept.append(row)
        return kept, len(rows) - len(kept)
    if kind == EventKind.RESENT:
        counts = dict(
            InvitationEvent.objects.filter(invitation_id__in=[r.pk for r in rows], kind=EventKind.RESENT)
            .values("invitation_id")
            .annotate(n=Count("id"))
            .values_list("invitation_id", "n")
        )
        for row in rows:
            row.sequence = counts.get(row.pk, 0) + 1
    return rows, 0


def _log(kind: str, rows: list[Claimed], now: dt.datetime, actor) -> tuple[list[Claimed], list[InvitationEvent]]:
    """Insert the messages' events (one statement). A row whose event exists already (a writer that did not hold the
    row lock) is dropped: that message went out already."""
    actor_id = getattr(actor, "pk", None)

    def events(batch: list[Claimed]) -> list[InvitationEvent]:
        made = [
            InvitationEvent(
                invitation_id=r.pk, kind=kind, sequence=r.sequence, at=now, actor_id=actor_id, detail=_detail(kind, r.sequence)
            )
            for r in batch
        ]
        return InvitationEvent.objects.bulk_create(made)

    try:
        with transaction.atomic():
            return rows, events(rows)
    except IntegrityError:
        taken = set(
            InvitationEvent.objects.filter(invitation_id__in=[r.pk for r in rows], kind=kind).values_list(
                "invitation_id", "sequence"
            )
        )
        rows = [r for r in rows if (r.pk, r.sequence) not in taken]
        return rows, events(rows)


def send_claimed(
    kind: str, rows: list[Claimed], *, now: dt.datetime, today: dt.date, mailer: Mailer, composer: Composer, actor=None
) -> Outcome:
    """Log, send and record the messages of ``rows`` (claimed by the caller's transaction): see the module doc."""
    outcome = Outcome(claimed=len(rows))
    rows, outcome.skipped = _number(kind, rows, today)
    if not rows:
        return outcome
    logged, events = _log(kind, rows, now, actor)
    outcome.skipped += len(rows) - len(logged)
    links = tokens.issue_many([r.pk for r in logged], channel=TokenChannel.EMAIL)
    failed: dict[int, str] = {}
    messages = []
    for row in logged:
        try:
            message = composer.message(
                crypto.decrypt(row.email_encrypted),
                language=row.language,
                reminder=kind == EventKind.REMINDED,
                visit_code=row.visit_code,
                site_name=row.site_name,
                closes_on=row.window_closes_on,
                token=links[row.pk],
            )
        except Exception as exc:  # noqa: BLE001 - e.g. an address no key decrypts: this message fails alone
            failed[row.pk] = type(exc).__name__
        else:
            messages.append((row.pk, message))
    for (pk, _), error in zip(messages, mailer.send_all([m for _, m in messages]), strict=True):
        if error is not None:
            failed[pk] = type(error).__name__
    for pk, name in failed.items():
        logger.warning("PRO message %s for invitation %s failed: %s", kind, pk, name)
    if failed:
        _undo(kind, failed, events, links, now, actor)
    sent = [r for r in logged if r.pk not in failed]
    _record(kind, sent, now)
    outcome.sent, outcome.failed = len(sent), len(failed)
    return outcome


def _undo(kind, failed: dict[int, str], events, links, now, actor) -> None:
    """Messages that did not go out: their event and token removed (uncommitted: never seen), a ``failed`` event."""
    InvitationEvent.objects.filter(pk__in=[e.pk for e in events if e.invitation_id in failed]).delete()
    InvitationToken.objects.filter(token_hash__in=[tokens.token_hash(links[pk]) for pk in failed]).delete()
    actor_id = getattr(actor, "pk", None)
    InvitationEvent.objects.bulk_create(
        [
            InvitationEvent(invitation_id=pk, kind=EventKind.FAILED, at=now, actor_id=actor_id, detail=f"{kind}: {error}")
            for pk, error in failed.items()
        ]
    )


def _record(kind: str, sent: list[Claimed], now: dt.datetime) -> None:
    """The sent messages on their invitations: first send, reminder count, next reminder date.

    One ``UPDATE`` per distinct (message number, next reminder date) — a handful, bounded by the site-local dates and
    the reminder offsets, not by the number of messages."""
    groups: dict[tuple[int, dt.date | None], list[int]] = {}
    for row in sent:
        if kind == EventKind.REMINDED:
            sent_at, reminders_sent = row.sent_at, row.sequence
        else:
            sent_at, reminders_sent = row.sent_at or now, row.reminders_sent
        following = reminder_date(sent_at, reminders_sent, row.time_zone, row.window_closes_on)
        groups.setdefault((row.sequence, following), []).append(row.pk)
    for (sequence, following), ids in groups.items():
        changes: dict[str, object] = {"next_reminder_on": following}
        if kind == EventKind.INVITED:  # claimed as pending: this is the first message
            changes.update(status=InvitationStatus.SENT, sent_at=now)
        elif kind == EventKind.REMINDED:
            changes.update(reminders_sent=sequence, last_reminded_at=now)
        Invitation.objects.filter(pk__in=ids).update(**changes)


def send_due(
    kind: str,
    queryset: QuerySet[Invitation],
    *,
    now: dt.datetime,
    today: dt.date,
    mailer: Mailer,
    composer: Composer,
    size: int | None = None,
) -> Outcome:
    """Send every ``kind`` message of ``queryset`` (from ``due``) in batches of ``size``, one transaction each.

    The cursor moves past each batch, so a failed message is retried by the next tick, not again in this one; rows
    locked by a concurrent tick are skipped (that tick sends them)."""
    size = size or batch_size()
    total, after = Outcome(), 0
    while True:
        with transaction.atomic():
            rows = claim(queryset, after=after, limit=size)
            if rows:
                after = rows[-1].pk
                total.add(send_claimed(kind, rows, now=now, today=today, mailer=mailer, composer=composer))
        if len(rows) < size:
            return total


def send_one(invitation_id: int, kind: str, *, now: dt.datetime, today: dt.date, actor=None, mailer=None) -> str:
    """Send one message of an invitation (``invited``, ``reminded`` or ``resent``) exactly once, as a batch of one.

    Returns 'sent', 'locked' (another run holds the row), 'skipped' (not due / no longer wanted) or 'failed' (a
    ``failed`` event logged without any address; the invitation stays as it was)."""
    with transaction.atomic():
        mine = Invitation.objects.select_for_update(skip_locked=True).filter(pk=invitation_id).values_list("pk", flat=True)
        if not list(mine):
            return "locked"
        rows = claim(due(kind, now=now, today=today).filter(pk=invitation_id), limit=1)
        if not rows:
            return "skipped"
        own = mailer or Mailer()
        try:
            outcome = send_claimed(kind, rows, now=now, today=today, mailer=own, composer=Composer(), actor=actor)
        finally:
            if mailer is None:
                own.close()
    return "sent" if outcome.sent else "failed" if outcome.failed else "skipped"
