"""Audit history of a visit (the visit row, its BPI and its opioid rows) as readable diffs."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from trials.models import MedicationUse, PainAssessment, Visit

# Bookkeeping fields every change touches; showing them would bury the clinical change.
_NOISE = {"updated_at", "updated_by", "version", "created_at", "created_by"}
_HISTORY_TYPES = {"+": "created", "~": "changed", "-": "deleted"}


@dataclass(frozen=True)
class FieldChange:
    field: str
    old: object
    new: object


@dataclass(frozen=True)
class AuditEntry:
    record: str
    when: dt.datetime
    who: str
    reason: str
    action: str
    changes: list[FieldChange]


def _entries_for(label: str, history_rows: list) -> list[AuditEntry]:
    """history_rows newest first (simple_history's order); each diffed against the one before it."""
    entries = []
    for index, newer in enumerate(history_rows):
        older = history_rows[index + 1] if index + 1 < len(history_rows) else None
        if older is None:
            changes = [
                FieldChange(f.name, None, getattr(newer, f.attname))
                for f in newer.instance_type._meta.concrete_fields
                if f.name not in _NOISE and f.name != "id" and getattr(newer, f.attname) not in (None, "")
            ]
        else:
            delta = newer.diff_against(older, excluded_fields=list(_NOISE))
            changes = [FieldChange(c.field, c.old, c.new) for c in delta.changes]
        user = newer.history_user
        entries.append(
            AuditEntry(
                record=label,
                when=newer.history_date,
                who=user.get_username() if user else "system",
                reason=newer.history_change_reason or "",
                action=_HISTORY_TYPES.get(newer.history_type, newer.history_type),
                changes=changes,
            )
        )
    return entries


def visit_audit_trail(visit: Visit) -> list[AuditEntry]:
    """Every change to the visit, its pain assessment and its opioid rows, newest first."""
    entries = _entries_for("Visit", list(visit.history.select_related("history_user")))
    pain = PainAssessment.history.filter(visit_id=visit.pk).select_related("history_user")
    entries += _entries_for("Brief Pain Inventory", list(pain))
    med_rows = list(MedicationUse.history.filter(visit_id=visit.pk).select_related("history_user"))
    for med_id in sorted({row.id for row in med_rows}):
        rows = [row for row in med_rows if row.id == med_id]
        entries += _entries_for(f"Opioid row #{med_id}", rows)
    return sorted(entries, key=lambda e: e.when, reverse=True)
