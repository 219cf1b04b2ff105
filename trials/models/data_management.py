"""Data management: queries on recorded values, electronic signatures and data locks (issue 6).

These are not clinical records (nothing here is patient data) but they are
audited the same way: every row keeps its history and nothing is deleted.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.contenttypes.fields import GenericForeignKey
from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.db.models import Q
from simple_history.models import HistoricalRecords

from trials.models.patients import Patient
from trials.models.visits import Visit


class QueryStatus(models.TextChoices):
    OPEN = "open", "Open"
    ANSWERED = "answered", "Answered"
    CLOSED = "closed", "Closed"


class DataQuery(models.Model):
    """A question about one field of one record, opened by a data manager or an automatic rule."""

    content_type = models.ForeignKey(ContentType, on_delete=models.PROTECT)
    object_id = models.PositiveBigIntegerField()
    record = GenericForeignKey("content_type", "object_id")
    field_name = models.CharField(max_length=64, help_text="The queried field of the record, e.g. visit_date, worst.")
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="data_queries")
    message = models.TextField()
    status = models.CharField(max_length=8, choices=QueryStatus.choices, default=QueryStatus.OPEN, db_index=True)
    rule_code = models.CharField(max_length=40, blank=True, help_text="Automatic rule that opened the query; blank = manual.")
    opened_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    opened_at = models.DateTimeField(auto_now_add=True, db_index=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    closed_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    history = HistoricalRecords()

    class Meta:
        ordering = ["-opened_at", "-id"]
        verbose_name_plural = "data queries"
        constraints = [
            # An automatic rule never holds two unresolved queries on the same field (rules are re-run freely).
            models.UniqueConstraint(
                fields=["content_type", "object_id", "field_name", "rule_code"],
                condition=~Q(rule_code="") & ~Q(status="closed"),
                name="dataquery_one_unresolved_per_rule",
            ),
            models.CheckConstraint(
                condition=Q(status="closed", closed_at__isnull=False) | (~Q(status="closed") & Q(closed_at__isnull=True)),
                name="dataquery_closed_at_iff_closed",
            ),
        ]
        indexes = [models.Index(fields=["content_type", "object_id"], name="dataquery_record_idx")]

    def __str__(self) -> str:
        return f"Query #{self.pk} {self.patient_id} {self.field_name} ({self.status})"

    @property
    def is_automatic(self) -> bool:
        return bool(self.rule_code)


class QueryAction(models.TextChoices):
    OPEN = "open", "Opened"
    ANSWER = "answer", "Answered"
    CORRECTION = "correction", "Corrected the value"
    CLOSE = "close", "Closed"
    REOPEN = "reopen", "Re-opened"


class DataQueryResponse(models.Model):
    """One message in a query's thread; a correction also keeps the old and new value."""

    query = models.ForeignKey(DataQuery, on_delete=models.PROTECT, related_name="responses")
    action = models.CharField(max_length=12, choices=QueryAction.choices)
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    message = models.TextField(blank=True)
    old_value = models.TextField(blank=True)
    new_value = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.get_action_display()} on query #{self.query_id}"


class Signature(models.Model):
    """A site investigator's electronic signature of a completed visit (21 CFR 11 style: who, when, meaning)."""

    visit = models.ForeignKey(Visit, on_delete=models.PROTECT, related_name="signatures")
    signer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    meaning = models.CharField(max_length=200)
    signed_at = models.DateTimeField()
    visit_version = models.PositiveIntegerField(help_text="Version of the visit that was signed; a later edit supersedes it.")
    history = HistoricalRecords()

    class Meta:
        ordering = ["visit_id", "-signed_at"]

    def __str__(self) -> str:
        return f"{self.visit} signed by {self.signer} ({self.meaning})"


class Lock(models.Model):
    """A data lock: one patient, or the whole study when ``patient`` is empty. Active until unlocked."""

    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, null=True, blank=True, related_name="locks")
    reason = models.TextField()
    locked_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    locked_at = models.DateTimeField()
    unlocked_at = models.DateTimeField(null=True, blank=True)
    unlocked_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    unlock_reason = models.TextField(blank=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["-locked_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["patient"], condition=Q(unlocked_at__isnull=True, patient__isnull=False), name="lock_one_active_per_patient"
            ),
        ]

    def __str__(self) -> str:
        target = f"patient {self.patient_id}" if self.patient_id else "study"
        return f"Lock of {target} ({'active' if self.is_active else 'released'})"

    @property
    def is_active(self) -> bool:
        return self.unlocked_at is None

    @property
    def is_study_wide(self) -> bool:
        return self.patient_id is None
