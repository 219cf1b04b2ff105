"""Electronic signature of a completed visit by the site investigator (issues 6 and 11).

The signer re-enters their password (a wrong one is refused) and chooses the
meaning from a fixed list (author / review / approval). The signature keeps the
manifestation 21 CFR 11.50 asks for — printed name, date and time with its time
zone, meaning — and which version of the visit was signed; the visit's own
audit history gets an entry saying so. A later edit of the visit raises its
version and ``invalidate_stale_signatures`` marks the signature invalidated
(the row and its history stay), so the visit must be signed again.
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.utils import timezone

from trials.access import access_for
from trials.errors import DomainValidationError
from trials.models import SIGNATURE_STATEMENTS, Signature, SignatureMeaning, Visit
from trials.models.base import stamp_history
from trials.services.locking import lock_check
from trials.services.records import save_audited

DEFAULT_MEANING = SignatureMeaning.REVIEW


def _require_site_investigator(actor, visit: Visit) -> None:
    if not access_for(actor).can_sign(visit.patient.site_id):
        raise PermissionDenied("Only a site investigator of this patient's site may sign its visits.")


def signature_is_current(signature: Signature, visit: Visit) -> bool:
    return signature.invalidated_at is None and signature.visit_version == visit.version


def printed_name(user) -> str:
    """The signer's full name as it will be manifested; the username when no name is on file."""
    return (user.get_full_name() or "").strip() or user.get_username()


def meaning_code_of(meaning: str | None) -> str:
    """The fixed-list code for ``meaning`` (a code or its label, any case); raises naming the choices."""
    text = (meaning or DEFAULT_MEANING).strip().lower()
    for code, label in SignatureMeaning.choices:
        if text in (code, label.lower()):
            return code
    choices = ", ".join(label for _, label in SignatureMeaning.choices)
    raise DomainValidationError({"meaning": f"Choose the meaning of the signature: {choices}."})


@transaction.atomic
def visit_sign(*, actor, visit: Visit, password: str | None, meaning: str = DEFAULT_MEANING) -> Signature:
    """Sign a completed visit, re-authenticating with the password.

    ``meaning`` is one of ``SignatureMeaning`` (code or label). Raises
    PermissionDenied for anyone but the site's investigator and
    DomainValidationError (password, meaning, visit, locked) otherwise.
    """
    visit = Visit.objects.select_for_update().select_related("patient").get(pk=visit.pk)
    _require_site_investigator(actor, visit)
    if not password or not actor.check_password(password):
        raise DomainValidationError({"password": "The password is not correct; the signature was not applied."})
    code = meaning_code_of(meaning)
    if visit.is_voided or not visit.has_data:
        raise DomainValidationError({"visit": "Only a completed visit (with its data entered) can be signed."})
    if visit.signatures.filter(visit_version=visit.version, signer=actor, invalidated_at__isnull=True).exists():
        raise DomainValidationError({"visit": "You have already signed this version of the visit."})
    lock_check(visit)
    statement = SIGNATURE_STATEMENTS[SignatureMeaning(code)]
    signature = Signature(
        visit=visit,
        signer=actor,
        meaning_code=code,
        meaning=statement,
        printed_name=printed_name(actor),
        time_zone=visit.patient.site.time_zone or settings.TIME_ZONE,
        signed_at=timezone.now(),  # shown in the site's local time
        visit_version=visit.version,
    )
    stamp_history(signature, actor, f"Electronic signature ({signature.get_meaning_code_display()}): {statement}")
    signature.save()
    # The visit's own audit trail records the signature (no data change, version kept).
    save_audited(visit, actor=actor, reason=f"Signed by {signature.printed_name} ({signature.get_meaning_code_display()})")
    return signature
