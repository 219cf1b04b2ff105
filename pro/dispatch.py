"""Sending the job's messages in batches, each message once even when ticks overlap (issue 15 §2).

No invitation row stays locked while a message is being sent. A batch is two short transactions around the SMTP
phase, each with a constant number of queries whatever its size:

1. **claim** (transaction 1, milliseconds) — up to ``PRO_SEND_BATCH_SIZE`` due invitations (id order, after a
   cursor) are locked with ``SELECT … FOR UPDATE OF pro_invitation SKIP LOCKED`` (a concurrent tick skips them and
   claims others), every stop condition in the claim's ``WHERE``; the messages' ``InvitationEvent`` rows are inserted
   in the *sending* state (``sending_since`` set) with their link tokens' hashes, and the transaction commits. From
   then on the event row — unique per invitation, kind and number (``pro_event_message_once``) — keeps every other
   tick and ``send_one`` from claiming that message: the claim's ``NOT EXISTS`` excludes it, and a claim that raced
   the commit hits the unique constraint and drops the row (``_log``).
2. **check** — one query re-reads the claimed invitations' stop conditions (no lock): a message whose invitation
   was stopped meanwhile (visit entered or voided, exit, submission, contact withdrawn…) is not sent.
3. **send** — outside any transaction: addresses decrypted in memory, each message sent on its own over the tick's
   connections (``pro.emails.Mailer``); none is started later than half of ``PRO_SENDING_TIMEOUT_SECONDS`` after
   the claim (those fail and are retried).
4. **record** (transaction 2) — the sent messages' events leave the sending state and their invitations get the
   first send / reminder count / next reminder date (a status reached meanwhile — stopped, submitted — is kept). A
   message that was not sent keeps its rows, nothing is deleted: its token is revoked (the link was never handed
   out) and its event becomes a ``withdrawn`` event (stopped before sending) or a ``failed`` one (exception class
   only, never an address); a failed message stays due: the next tick retries it.

A staff write that stops reminders, or a patient's submission, therefore waits at most for a claim or a record,
never for SMTP. Across a crash: a process that dies between its claim and its record leaves *sending* events; the
first tick once they are ``PRO_SENDING_TIMEOUT_SECONDS`` old logs them ``failed`` ("interrupted") and sends those
messages again (``resolve_interrupted``): at least once across crashes, at most one batch repeated. Their tokens are
kept, since the e-mail may have gone out.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections import defaultdict
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Case, Count, DateField, Exists, F, OuterRef, QuerySet, Value, When
from django.db.models.functions import Concat
from django.utils import timezone

from pro import crypto, tokens
from pro.emails import Composer, Mailer
from pro.models import EventKind, Invitation, InvitationEvent, InvitationStatus, InvitationToken, TokenChannel
from pro.stopping import batch_size, deliverable

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
    """Invitations whose ``kind`` message (invited, reminded, resent) may go out now: every stop condition
    (``pro.stopping.deliverable``), and no message of theirs being claimed or sent for this number."""
    queryset = deliverable(Invitation.objects.all(), now).order_by("pk")
    message = InvitationEvent.objects.filter(invitation_id=OuterRef("pk"), kind=kind)
    if kind == EventKind.RESENT:  # staff's re-send: any open invitation already invited, no re-send in flight
        return queryset.exclude(status=InvitationStatus.PENDING).exclude(Exists(message.filter(sending_since__isnull=False)))
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


def _taken(kind: str, rows: list[Claimed]) -> set[tuple[int, int]]:
    """(invitation id, message number) of ``rows`` whose ``kind`` message is logged already (by another writer)."""
    return set(
        InvitationEvent.objects.filter(invitation_id__in=[r.pk for r in rows], kind=kind).values_list("invitation_id", "sequence")
    )


def _log(kind: str, rows: list[Claimed], now: dt.datetime, actor) -> tuple[list[Claimed], list[InvitationEvent]]:
    """Insert the messages' events in the sending state (one statement, in a savepoint). A row whose event exists
    already (another tick's claim committed while this one's was running) is dropped: that message is someone
    else's; the insert is retried, each attempt in its own savepoint, until no duplicate is left."""
    actor_id, since = getattr(actor, "pk", None), timezone.now()

    def events(batch: list[Claimed]) -> list[InvitationEvent]:
        made = [
            InvitationEvent(
                invitation_id=r.pk,
                kind=kind,
                sequence=r.sequence,
                at=now,
                actor_id=actor_id,
                detail=_detail(kind, r.sequence),
                sending_since=since,
            )
            for r in batch
        ]
        return InvitationEvent.objects.bulk_create(made)

    while True:
        try:
            with transaction.atomic():
                return rows, events(rows)
        except IntegrityError:
            taken = _taken(kind, rows)
            kept = [r for r in rows if (r.pk, r.sequence) not in taken]
            if len(kept) == len(rows):  # not a duplicate message: a real error
                raise
            rows = kept


@dataclass
class Batch:
    """Messages claimed and logged (transaction 1 committed): rows, {invitation id: event id}, {invitation id:
    token}, the counts so far, and ``started`` (``time.monotonic()`` of the claim)."""

    kind: str
    rows: list[Claimed] = field(default_factory=list)
    events: dict[int, int] = field(default_factory=dict)
    links: dict[int, str] = field(default_factory=dict)
    outcome: Outcome = field(default_factory=Outcome)
    started: float = field(default_factory=time.monotonic)


def prepare(kind: str, rows: list[Claimed], *, now: dt.datetime, today: dt.date, actor=None) -> Batch:
    """Number, log (sending state) and give a token to the messages of ``rows``, claimed in the caller's
    transaction — which must commit before ``deliver``, so that no row lock is held while they go out."""
    batch = Batch(kind, outcome=Outcome(claimed=len(rows)))
    rows, batch.outcome.skipped = _number(kind, rows, today)
    if rows:
        logged, events = _log(kind, rows, now, actor)
        batch.outcome.skipped += len(rows) - len(logged)
        batch.rows, batch.events = logged, {e.invitation_id: e.pk for e in events}
        batch.links = tokens.issue_many([r.pk for r in logged], channel=TokenChannel.EMAIL)
    return batch


def still_wanted(kind: str, ids: list[int], now: dt.datetime) -> set[int]:
    """Of ``ids``, the invitations that may still get their ``kind`` message (``deliverable``, and reminders not
    stopped except for a staff re-send): one query, no lock."""
    queryset = deliverable(Invitation.objects.filter(pk__in=ids), now)
    if kind != EventKind.RESENT:
        queryset = queryset.filter(reminders_stopped_at__isnull=True)
    return set(queryset.values_list("pk", flat=True))


def deliver(batch: Batch, *, now: dt.datetime, mailer: Mailer, composer: Composer, actor=None) -> Outcome:
    """Check, send (outside any transaction) and record the messages of ``batch``: see the module doc."""
    outcome, kind = batch.outcome, batch.kind
    if not batch.rows:
        return outcome
    wanted = still_wanted(kind, [r.pk for r in batch.rows], now)
    failed: dict[int, str] = {}
    messages = []
    for row in batch.rows:
        if row.pk not in wanted:
            continue
        try:
            message = composer.message(
                crypto.decrypt(row.email_encrypted),
                language=row.language,
                reminder=kind == EventKind.REMINDED,
                visit_code=row.visit_code,
                site_name=row.site_name,
                closes_on=row.window_closes_on,
                token=batch.links[row.pk],
            )
        except Exception as exc:  # noqa: BLE001 - e.g. an address no key decrypts: this message fails alone
            failed[row.pk] = type(exc).__name__
        else:
            messages.append((row.pk, message))
    deadline = batch.started + settings.PRO_SENDING_TIMEOUT_SECONDS / 2
    for (pk, _), error in zip(messages, mailer.send_all([m for _, m in messages], deadline=deadline), strict=True):
        if error is not None:
            failed[pk] = type(error).__name__
    for pk, name in failed.items():
        logger.warning("PRO message %s for invitation %s failed: %s", kind, pk, name)
    withdrawn = [r.pk for r in batch.rows if r.pk not in wanted]
    sent = [r for r in batch.rows if r.pk in wanted and r.pk not in failed]
    _settle(batch, sent, failed, withdrawn, now, actor)
    outcome.sent, outcome.failed, outcome.skipped = len(sent), len(failed), outcome.skipped + len(withdrawn)
    return outcome


def _settle(batch: Batch, sent: list[Claimed], failed: dict[int, str], withdrawn: list[int], now, actor) -> None:
    """Transaction 2: sent events out of the sending state and their invitations recorded; messages that did not go
    out keep their rows (nothing is deleted): their links revoked (never handed out), their events turned into a
    ``failed`` event naming the error (due again next tick) or a ``withdrawn`` one (stopped before sending)."""
    with transaction.atomic():
        if sent:
            ids = [batch.events[r.pk] for r in sent]
            done = InvitationEvent.objects.filter(pk__in=ids, sending_since__isnull=False).update(sending_since=None)
            if done < len(ids):  # resolved as interrupted by another tick meanwhile (a batch past its deadline)
                logger.warning("PRO: %s %s message(s) sent after being logged interrupted", len(ids) - done, batch.kind)
        if failed or withdrawn:
            unsent = [*failed, *withdrawn]
            InvitationToken.objects.filter(token_hash__in=[tokens.token_hash(batch.links[pk]) for pk in unsent]).update(
                revoked_at=now
            )
            outcomes: dict[tuple[str, str], list[int]] = defaultdict(list)
            for pk, error in failed.items():
                outcomes[(EventKind.FAILED, f"{batch.kind}: {error}")].append(batch.events[pk])
            for pk in withdrawn:
                outcomes[(EventKind.WITHDRAWN, f"{batch.kind}: stopped before sending")].append(batch.events[pk])
            for (kind, detail), ids in outcomes.items():
                InvitationEvent.objects.filter(pk__in=ids).update(kind=kind, detail=detail, at=now, sending_since=None)
        _record(batch.kind, sent, now)


def send_claimed(
    kind: str, rows: list[Claimed], *, now: dt.datetime, today: dt.date, mailer: Mailer, composer: Composer, actor=None
) -> Outcome:
    """``prepare`` then ``deliver`` the rows the caller claimed (outside a transaction, or the caller's row locks
    stay held while the messages go out)."""
    batch = prepare(kind, rows, now=now, today=today, actor=actor)
    return deliver(batch, now=now, mailer=mailer, composer=composer, actor=actor)


def _record(kind: str, sent: list[Claimed], now: dt.datetime) -> None:
    """The sent messages on their invitations: first send, reminder count, next reminder date.

    One ``UPDATE`` per distinct (message number, next reminder date) — a handful, bounded by the site-local dates and
    the reminder offsets, not by the number of messages. Stopped meanwhile: the message still went out (counted), but
    the status the invitation reached and its cleared next reminder date are kept."""
    groups: dict[tuple[int, dt.date | None], list[int]] = {}
    for row in sent:
        if kind == EventKind.REMINDED:
            sent_at, reminders_sent = row.sent_at, row.sequence
        else:
            sent_at, reminders_sent = row.sent_at or now, row.reminders_sent
        following = reminder_date(sent_at, reminders_sent, row.time_zone, row.window_closes_on)
        groups.setdefault((row.sequence, following), []).append(row.pk)
    for (sequence, following), ids in groups.items():
        changes: dict[str, object] = {
            "next_reminder_on": Case(
                When(reminders_stopped_at__isnull=True, then=Value(following, output_field=DateField())),
                default=F("next_reminder_on"),
            )
        }
        if kind == EventKind.INVITED:  # claimed as pending: this is the first message
            pending = When(status=InvitationStatus.PENDING, then=Value(InvitationStatus.SENT))
            changes.update(status=Case(pending, default=F("status")), sent_at=now)
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
    """Send every ``kind`` message of ``queryset`` (from ``due``) in batches of ``size``: per batch a claim
    transaction, the SMTP phase outside any transaction, a record transaction. Call outside a transaction.

    The cursor moves past each batch, so a failed message is retried by the next tick, not again in this one; rows
    locked or logged by a concurrent tick are skipped (that tick sends them)."""
    size = size or batch_size()
    total, after = Outcome(), 0
    while True:
        with transaction.atomic():
            rows = claim(queryset, after=after, limit=size)
            batch = prepare(kind, rows, now=now, today=today)
        if rows:
            after = rows[-1].pk
        total.add(deliver(batch, now=now, mailer=mailer, composer=composer))
        if len(rows) < size:
            return total


def resolve_interrupted(now: dt.datetime, *, size: int | None = None) -> int:
    """Messages left in the sending state by a process that died (claimed more than ``PRO_SENDING_TIMEOUT_SECONDS``
    ago, wall clock): each event becomes a ``failed`` event ("interrupted") at ``now``, so the message is due
    again and the next batch sends it (at least once; the e-mail may have gone out, so its token is kept). In
    batches of ``size`` locked ``FOR UPDATE SKIP LOCKED``; returns how many."""
    cutoff = timezone.now() - dt.timedelta(seconds=settings.PRO_SENDING_TIMEOUT_SECONDS)
    size = size or batch_size()
    total = 0
    while True:
        with transaction.atomic():
            stale = list(
                InvitationEvent.objects.filter(sending_since__lt=cutoff)
                .select_for_update(skip_locked=True)
                .order_by("pk")
                .values_list("pk", "invitation_id", "kind", "actor_id")[:size]
            )
            if stale:  # the event becomes the failed one (kept, not deleted), so the message is due again
                InvitationEvent.objects.filter(pk__in=[row[0] for row in stale]).update(
                    kind=EventKind.FAILED, detail=Concat(F("kind"), Value(": interrupted")), at=now, sending_since=None
                )
        total += len(stale)
        for _, inv, kind, _ in stale:
            logger.warning("PRO message %s for invitation %s interrupted: sent again", kind, inv)
        if len(stale) < size:
            return total


def send_one(invitation_id: int, kind: str, *, now: dt.datetime, today: dt.date, actor=None, mailer=None) -> str:
    """Send one message of an invitation (``invited``, ``reminded`` or ``resent``) exactly once, as a batch of one
    (claim transaction, send, record transaction: call outside a transaction).

    Returns 'sent', 'locked' (another run holds the row), 'skipped' (not due / no longer wanted / being sent) or
    'failed' (a ``failed`` event logged without any address; the invitation stays as it was)."""
    with transaction.atomic():
        mine = Invitation.objects.select_for_update(skip_locked=True).filter(pk=invitation_id).values_list("pk", flat=True)
        if not list(mine):
            return "locked"
        rows = claim(due(kind, now=now, today=today).filter(pk=invitation_id), limit=1)
        batch = prepare(kind, rows, now=now, today=today, actor=actor)
    if not batch.rows:
        return "skipped"
    own = mailer or Mailer()
    try:
        outcome = deliver(batch, now=now, mailer=own, composer=Composer(), actor=actor)
    finally:
        if mailer is None:
            own.close()
    return "sent" if outcome.sent else "failed" if outcome.failed else "skipped"
