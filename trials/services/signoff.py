"""Electronic signature of a completed visit by the site investigator (issue 6).

The signer re-enters their password (a wrong one is refused); the signature
keeps who, when, what it means and which version of the visit was signed, and
the visit's own audit history gets an entry saying so. A later correction of
the visit raises its version, so the signature no longer covers it
(``signature_is_current``) and the visit must be signed again.
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.utils import timezone

from trials.errors import DomainValidationError
from trials.models import Role, Signature, Visit
from trials.services.locking import lock_check
from trials.services.records import save_audited
from trials.services.text import require_clean_text

HISTORY_REASON_MAX = 100  # django-simple-history's history_change_reason is varchar(100)
DEFAULT_MEANING = "I confirm that the data of this visit are complete and accurate (investigator review)."


def _require_site_investigator(actor, visit: Visit) -> None:
    memberships = actor.memberships.filter(role=Role.SITE_INVESTIGATOR, site_id=visit.patient.site_id)
    if not memberships.exists():
        raise PermissionDenied("Only a site investigator of this patient's site may sign its visits.")


def signature_is_current(signature: Signature, visit: Visit) -> bool:
    return signature.visit_version == visit.version


@transaction.atomic
def visit_sign(*, actor, visit: Visit, password: str | None, meaning: str = DEFAULT_MEANING) -> Signature:
    """Sign a completed visit, re-authenticating with the password."""
    visit = Visit.objects.select_for_update().select_related("patient").get(pk=visit.pk)
    _require_site_investigator(actor, visit)
    if not password or not actor.check_password(password):
        raise DomainValidationError({"password": "The password is not correct; the signature was not applied."})
    if visit.is_voided or not visit.has_data:
        raise DomainValidationError({"visit": "Only a completed visit (with its data entered) can be signed."})
    require_clean_text(meaning, "meaning")
    meaning = (meaning or "").strip() or DEFAULT_MEANING
    if visit.signatures.filter(visit_version=visit.version, signer=actor).exists():
        raise DomainValidationError({"visit": "You have already signed this version of the visit."})
    lock_check(visit)
    signature = Signature(visit=visit, signer=actor, meaning=meaning, signed_at=timezone.now(), visit_version=visit.version)
    signature._history_user = actor
    signature._change_reason = f"Electronic signature: {meaning}"[:HISTORY_REASON_MAX]
    signature.save()
    # The visit's own audit trail records the signature (no data change, version kept).
    # history_change_reason holds 100 characters; the full meaning is on the Signature row.
    reason = f"Signed by {actor.get_username()}: {meaning}"[:HISTORY_REASON_MAX]
    save_audited(visit, actor=actor, reason=reason)
    return signature
