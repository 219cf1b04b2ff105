"""Audit history entries: who, when, why, and each change old → new (django-simple-history)."""

from __future__ import annotations

from rest_framework import serializers

HISTORY_TYPES = {"+": "created", "~": "changed", "-": "deleted"}


class FieldChangeSerializer(serializers.Serializer):
    field = serializers.CharField()
    old = serializers.JSONField(allow_null=True)
    new = serializers.JSONField(allow_null=True)


class HistoryEntrySerializer(serializers.Serializer):
    history_id = serializers.IntegerField()
    when = serializers.DateTimeField()
    who = serializers.CharField(allow_null=True, help_text="Username of the person who made the change.")
    action = serializers.ChoiceField(choices=sorted(set(HISTORY_TYPES.values())))
    reason = serializers.CharField(allow_blank=True)
    version = serializers.IntegerField(allow_null=True)
    changes = FieldChangeSerializer(many=True)


def _plain(value):
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


def history_entries(records: list) -> list[dict]:
    """Entries oldest first; each diffed against the previous one with ``diff_against``."""
    entries: list[dict] = []
    previous = None
    for record in records:
        changes: list[dict] = []
        if previous is not None:
            delta = record.diff_against(previous)
            changes = [{"field": c.field, "old": _plain(c.old), "new": _plain(c.new)} for c in delta.changes]
        entries.append(
            {
                "history_id": record.history_id,
                "when": record.history_date,
                "who": record.history_user.get_username() if record.history_user_id else None,
                "action": HISTORY_TYPES.get(record.history_type, record.history_type),
                "reason": record.history_change_reason or "",
                "version": getattr(record, "version", None),
                "changes": changes,
            }
        )
        previous = record
    return entries
