"""Shared fields of every clinical record: who/when, optimistic version, voiding."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import FieldDoesNotExist
from django.db import models


def concrete_field(model: type[models.Model], name: str) -> models.Field:
    """``model``'s field ``name`` (a column or a forward relation, not a reverse relation).

    Raises ``FieldDoesNotExist`` when there is no such field or ``name`` is a reverse relation.
    """
    field = model._meta.get_field(name)
    if not isinstance(field, models.Field):
        raise FieldDoesNotExist(f"{model.__name__}.{name} is a reverse relation, not a field")
    return field


def stamp_history(instance: models.Model, actor: Any, reason: str) -> None:
    """Tell django-simple-history who makes the next ``save()`` of ``instance`` and why.

    ``actor`` is the user (or ``None`` for the system); ``reason`` lands in the history row's
    ``history_change_reason`` (the audit trail's "reason"). Must be called before ``save()``.
    """
    instance._history_user = actor  # type: ignore[attr-defined]
    instance._change_reason = reason  # type: ignore[attr-defined]


class ClinicalQuerySet(models.QuerySet):
    def active(self) -> ClinicalQuerySet:
        """Records that are not voided."""
        return self.filter(voided_at__isnull=True)


class ClinicalRecord(models.Model):
    """Abstract base: audit stamps, a version for optimistic locking, and voiding.

    Clinical records are never hard-deleted; ``clinical_record_void`` stamps
    ``voided_at``/``void_reason`` instead (DESIGN.md, "Nothing clinical is
    hard-deleted").
    """

    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True, db_index=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", null=True, blank=True)
    updated_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", null=True, blank=True)
    version = models.PositiveIntegerField(default=1, help_text="Incremented on every change; used for If-Match.")
    voided_at = models.DateTimeField(null=True, blank=True)
    voided_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", null=True, blank=True)
    void_reason = models.TextField(blank=True)

    objects = ClinicalQuerySet.as_manager()

    class Meta:
        abstract = True

    @property
    def is_voided(self) -> bool:
        return self.voided_at is not None

    def delete(self, *args, **kwargs):  # noqa: ARG002 - refuse every hard delete
        raise PermissionError("Clinical records are never deleted; void them with a reason.")


class RepeatingRecord(ClinicalRecord):
    """A record a patient (or a visit) can have several of: lesions, radiation courses, opioid entries,
    adverse events, skeletal-related events.

    ``repeat_instance`` numbers the records of one parent 1, 2, 3… in order of entry and never changes:
    it is assigned when the record is created (``trials.services.records.save_audited``), a voided record
    keeps its number (so numbering has a gap) and a back-dated entry gets the next number, not an earlier
    one. REDCap's ``redcap_repeat_instance`` and ODM's ``ItemGroupRepeatKey`` are this number, so a
    sponsor's incremental load always attaches a value to the same record (issue 13).
    """

    repeat_parent = "patient"  # the field naming the parent whose records are numbered together

    repeat_instance = models.PositiveIntegerField(
        null=True,
        blank=True,
        editable=False,
        help_text="Instance number among the parent's records of this kind (1, 2, …): assigned at creation, kept for life.",
    )

    class Meta:
        abstract = True
