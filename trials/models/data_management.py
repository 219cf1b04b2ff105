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


class SignatureMeaning(models.TextChoices):
    """The fixed meanings a signature may carry (21 CFR 11.50(a)(3): review, approval, responsibility, authorship)."""

    AUTHOR = "author", "Author"
    REVIEW = "review", "Review"
    APPROVAL = "approval", "Approval"


SIGNATURE_STATEMENTS = {
    SignatureMeaning.AUTHOR: "I am responsible for the data of this visit as recorded.",
    SignatureMeaning.REVIEW: "I have reviewed the data of this visit.",
    SignatureMeaning.APPROVAL: "I approve the data of this visit as complete and accurate.",
}


class Signature(models.Model):
    """A site investigator's electronic signature of a completed visit.

    The manifestation asked by 21 CFR 11.50: the printed name of the signer, the
    date and time with its time zone, and the meaning (author / review / approval).
    A later edit of the visit keeps the row but marks it invalidated.
    """

    visit = models.ForeignKey(Visit, on_delete=models.PROTECT, related_name="signatures")
    signer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    meaning_code = models.CharField(
        max_length=12,
        choices=SignatureMeaning.choices,
        blank=True,
        help_text="Author, review or approval; blank only on signatures made before the fixed list existed.",
    )
    meaning = models.CharField(max_length=200, help_text="The statement the signer signed.")
    printed_name = models.CharField(max_length=200, blank=True, help_text="Signer's full name at the time of signing.")
    time_zone = models.CharField(max_length=64, blank=True, help_text="IANA time zone the signing time is shown in.")
    signed_at = models.DateTimeField()
    visit_version = models.PositiveIntegerField(help_text="Version of the visit that was signed; a later edit supersedes it.")
    invalidated_at = models.DateTimeField(null=True, blank=True, help_text="When a later edit of the visit invalidated it.")
    invalidated_by_version = models.PositiveIntegerField(
        null=True, blank=True, help_text="Visit version whose edit invalidated it."
    )
    history = HistoricalRecords()

    class Meta:
        ordering = ["visit_id", "-signed_at"]

    def __str__(self) -> str:
        return f"{self.visit} signed by {self.signer} ({self.meaning})"


class LockScope(models.TextChoices):
    PATIENT = "patient", "One patient"
    SITE = "site", "One site"
    STUDY = "study", "The whole study"


class Lock(models.Model):
    """A data lock of one patient, one site or the whole study (``scope``). Active until unlocked.

    At most one active lock per patient, per site and for the study: database
    constraints, so concurrent lock requests cannot create duplicates.
    """

    scope = models.CharField(max_length=8, choices=LockScope.choices, default=LockScope.PATIENT)
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, null=True, blank=True, related_name="locks")
    site = models.ForeignKey("trials.Site", on_delete=models.PROTECT, null=True, blank=True, related_name="locks")
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
                fields=["patient"],
                condition=Q(unlocked_at__isnull=True, patient__isnull=False),
                name="lock_one_active_per_patient",
            ),
            models.UniqueConstraint(
                fields=["site"], condition=Q(unlocked_at__isnull=True, scope="site"), name="lock_one_active_per_site"
            ),
            models.UniqueConstraint(
                fields=["scope"], condition=Q(unlocked_at__isnull=True, scope="study"), name="lock_one_active_study_wide"
            ),
            models.CheckConstraint(
                condition=Q(scope="patient", patient__isnull=False, site__isnull=True)
                | Q(scope="site", patient__isnull=True, site__isnull=False)
                | Q(scope="study", patient__isnull=True, site__isnull=True),
                name="lock_target_matches_scope",
            ),
        ]

    def __str__(self) -> str:
        targets: dict[str, str] = {LockScope.PATIENT: f"patient {self.patient_id}", LockScope.SITE: f"site {self.site_id}"}
        target = targets.get(self.scope, "study")
        return f"Lock of {target} ({'active' if self.is_active else 'released'})"

    @property
    def is_active(self) -> bool:
        return self.unlocked_at is None

    @property
    def is_study_wide(self) -> bool:
        return self.scope == LockScope.STUDY

    @property
    def target_label(self) -> str:
        if self.scope == LockScope.PATIENT and self.patient is not None:
            return f"Patient {self.patient.study_id}"
        if self.scope == LockScope.SITE and self.site is not None:
            return f"Site {self.site.code}"
        return "The whole study"
