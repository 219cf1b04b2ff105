"""Link tokens of invitations (issue 15 §4): unguessable, stored only as hashes, dead when the window closes.

``issue(invitation)`` makes a ``secrets.token_urlsafe(32)`` token (32 random bytes = 256 bits, 43 URL-safe
characters), stores its SHA-256 hex digest in ``InvitationToken`` and returns the token — the only time it exists
in clear (it goes into the e-mail or the QR code, never into the database or a log). ``resolve(token)`` hashes the
presented token, looks the hash up, compares digests in constant time and returns the invitation only while its
link is valid. Every invitation may have several live tokens (one per message / QR code), so an older e-mail's
link keeps working after a reminder.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets

from django.utils import timezone

from pro.models import Invitation, InvitationStatus, InvitationToken, TokenChannel

TOKEN_BYTES = 32  # ≥ 128 bits required (issue 15); 256 bits given
_TOKEN_SHAPE = re.compile(r"^[A-Za-z0-9_-]{43}$")


def token_hash(token: str) -> str:
    """SHA-256 hex digest of a token (64 characters)."""
    return hashlib.sha256(token.encode("ascii", "replace")).hexdigest()


def issue(invitation: Invitation, *, channel: str = TokenChannel.EMAIL) -> str:
    """A new link token for ``invitation`` (its hash stored; call inside the sending transaction).

    Returns the 43-character token to put into ``pro.links.patient_url``. Raises ``ValueError`` for an invitation
    whose link is no longer valid (submitted, expired or stopped)."""
    if not invitation.is_open:
        raise ValueError(f"invitation {invitation.pk} is {invitation.status}: no new link")
    token = secrets.token_urlsafe(TOKEN_BYTES)
    InvitationToken.objects.create(invitation=invitation, token_hash=token_hash(token), channel=channel)
    return token


def issue_many(invitation_ids: list[int], *, channel: str = TokenChannel.EMAIL) -> dict[int, str]:
    """A new link token for each of ``invitation_ids`` (open invitations locked by the caller, e.g. a job batch):
    their hashes stored in one statement. Returns {invitation id: 43-character token}."""
    issued = {pk: secrets.token_urlsafe(TOKEN_BYTES) for pk in invitation_ids}
    InvitationToken.objects.bulk_create(
        [InvitationToken(invitation_id=pk, token_hash=token_hash(token), channel=channel) for pk, token in issued.items()]
    )
    return issued


def resolve(token: str, *, include_submitted: bool = False) -> Invitation | None:
    """The invitation a link token opens, or None: unknown, malformed, revoked, expired (window closed), stopped
    (patient exited), of a voided visit or patient (even before the job stops it) — and submitted, unless
    ``include_submitted`` (the read-only thank-you page).

    Every refusal is the same None, so a caller shows one neutral page whatever the reason."""
    if not isinstance(token, str) or not _TOKEN_SHAPE.match(token):
        return None
    digest = token_hash(token)
    row = (
        InvitationToken.objects.select_related("invitation", "invitation__patient__site", "invitation__visit")
        .filter(token_hash=digest, revoked_at__isnull=True)
        .first()
    )
    if row is None or not hmac.compare_digest(row.token_hash, digest):
        return None
    invitation = row.invitation
    if timezone.now() >= invitation.expires_at:
        return None
    if invitation.visit.voided_at is not None or invitation.patient.voided_at is not None:
        return None
    if invitation.status == InvitationStatus.SUBMITTED:
        return invitation if include_submitted else None
    if not invitation.is_open:
        return None
    return invitation
