"""REDCap imports started from the web (issue 13): each run, its dry-run report and its result are kept and audited."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from simple_history.models import HistoricalRecords


class ImportStatus(models.TextChoices):
    CHECKED = "checked", "Checked: dry run passed, waiting for confirmation"
    REFUSED = "refused", "Refused: rows failed, nothing was written"
    IMPORTED = "imported", "Imported"


class ImportRun(models.Model):
    """One upload of a REDCap records file and its mapping by a data manager.

    The records text is kept only until the run is confirmed or refused (it may hold identifiers the mapping
    leaves out); the mapping, the file's SHA-256 and both reports stay. History: django-simple-history
    (without the records text).
    """

    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    records_name = models.CharField(max_length=200)
    records_sha256 = models.CharField(max_length=64)
    records_text = models.TextField(blank=True, help_text="Cleared once the run is imported or refused.")
    mapping_name = models.CharField(max_length=200)
    mapping = models.JSONField()
    date_format = models.CharField(max_length=3, default="YMD")
    status = models.CharField(max_length=8, choices=ImportStatus.choices)
    dry_run_report = models.JSONField()
    report = models.JSONField(null=True, blank=True)
    imported_at = models.DateTimeField(null=True, blank=True)
    imported_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", null=True, blank=True)
    history = HistoricalRecords(excluded_fields=["records_text"])

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"Import {self.pk} of {self.records_name} ({self.status})"
