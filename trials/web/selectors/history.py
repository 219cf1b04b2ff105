"""Audit history of a visit (the visit row, its BPI, its opioid rows and its signatures) as readable diffs.

Field labels and record names, not ids or internal codes (``trials.web.labels``);
a history row that changed nothing a user can see and gives no reason is left out.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from trials.models import MedicationUse, PainAssessment, Signature, Visit
from trials.web.labels import RelatedLabels, field_label, value_label

# Bookkeeping fields every change touches; showing them would bury the clinical change.
_NOISE = {"updated_at", "updated_by", "version", "created_at", "created_by"}
# Derived or structural fields: shown on the page, not as changes (they follow the entered values).
_STRUCTURAL = {
    "visit",
    "patient",
    "signer",
    "repeat_instance",
    "mme_table_version",
    "target_date",
    "window_start",
    "window_end",
    "visit_version",
}
HIDDEN_FIELDS = frozenset(_NOISE | _STRUCTURAL)  # never shown as a change
_HISTORY_TYPES = {"+": "created", "~": "changed", "-": "deleted"}


@dataclass(frozen=True)
class FieldChange:
    field: str
    old: str | None
    new: str


@dataclass(frozen=True)
class AuditEntry:
    record: str
    when: dt.datetime
    who: str
    reason: str
    action: str
    changes: list[FieldChange]


def _change(model, name: str, old, new, related: RelatedLabels | None = None) -> FieldChange:
    model_name = model._meta.model_name
    return FieldChange(
        field_label(model_name, name),
        None if old is None else value_label(model, name, old, related),
        value_label(model, name, new, related),
    )


def diff_rows(newer, older, related: RelatedLabels | None = None) -> list[FieldChange]:
    """Labelled changes from history row ``older`` (None: the record was created) to ``newer``.

    ``related``: labels of the records foreign keys point to (``trials.web.labels.related_labels``), so that a page
    of diffs looks them up in one query per related model instead of one per value."""
    model = newer.instance_type
    hidden = HIDDEN_FIELDS
    if older is None:
        return [
            _change(model, f.name, None, getattr(newer, f.attname), related)
            for f in model._meta.concrete_fields
            if f.name not in hidden and f.name != "id" and getattr(newer, f.attname) not in (None, "")
        ]
    delta = newer.diff_against(older, excluded_fields=list(hidden))
    return [_change(model, c.field, c.old, c.new, related) for c in delta.changes]


def _entries_for(label: str, history_rows: list) -> list[AuditEntry]:
    """history_rows newest first (simple_history's order); each diffed against the one before it."""
    entries = []
    for index, newer in enumerate(history_rows):
        older = history_rows[index + 1] if index + 1 < len(history_rows) else None
        changes = diff_rows(newer, older)
        reason = newer.history_change_reason or ""
        if not changes and not reason:
            continue  # nothing a reader could use
        user = newer.history_user
        entries.append(
            AuditEntry(
                record=label,
                when=newer.history_date,
                who=user.get_username() if user else "system",
                reason=reason,
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
        entries += _entries_for(f"Opioid: {medication_name(rows[0])}", rows)
    signature_rows = list(Signature.history.filter(visit_id=visit.pk).select_related("history_user"))
    for signature_id in sorted({row.id for row in signature_rows}):
        rows = [row for row in signature_rows if row.id == signature_id]
        entries += _entries_for(f"Signature of {rows[0].printed_name or rows[0].signer}", rows)
    return sorted(entries, key=lambda e: e.when, reverse=True)


def medication_name(row) -> str:
    """'Oxycodone, oral, 10 mg × 2/day' for an opioid row (or one of its history rows)."""
    per_day = value_label(MedicationUse, "doses_per_day", row.doses_per_day)
    dose = value_label(MedicationUse, "dose", row.dose)
    return f"{row.get_drug_display()}, {row.get_route_display().lower()}, {dose} {row.get_unit_display()} × {per_day}/day"
