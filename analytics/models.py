"""Report runs: one requested analysis of a registry snapshot and its artifacts (DESIGN.md "Analytics")."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.db import models
from django.db.models import Q


class RunStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"


FINISHED_STATUSES = (RunStatus.SUCCEEDED, RunStatus.FAILED)


class ReportRun(models.Model):
    """One report run. Written only through ``analytics.services``.

    ``parameters`` is the canonical parameter dict (``analytics.parameters``);
    ``parameters_key`` is its sha256, so "same parameters" is an indexed
    equality. ``fingerprint`` is the sha256 of the data snapshot used
    (``analytics.dataset.snapshot_fingerprint``).
    """

    parameters = models.JSONField(default=dict)
    parameters_key = models.CharField(max_length=64, db_index=True)
    status = models.CharField(max_length=16, choices=RunStatus.choices, default=RunStatus.QUEUED, db_index=True)
    progress = models.PositiveSmallIntegerField(default=0, help_text="0–100")
    stage = models.CharField(max_length=32, blank=True)
    timings = models.JSONField(default=dict, blank=True, help_text="Seconds per stage.")
    fingerprint = models.CharField(max_length=64, blank=True, db_index=True)
    data_version = models.CharField(
        max_length=64,
        blank=True,
        db_index=True,
        help_text="analytics.dataset.registry_data_version() at extraction: same token, same data.",
    )
    result = models.JSONField(null=True, blank=True)
    artifacts = models.JSONField(default=list, blank=True, help_text="File names under the run directory.")
    error_message = models.TextField(blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    heartbeat_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="Last sign of life from the worker running it (start, each stage, and every REPORTS_HEARTBEAT_SECONDS).",
    )
    delivery = models.PositiveIntegerField(
        default=0,
        help_text="Bumped each time the recovery sweep re-queues (or gives up on) the run; a task message carrying an "
        "older number is obsolete and does nothing.",
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="report_runs"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(progress__lte=100), name="reportrun_progress_0_100"),
        ]
        indexes = [models.Index(fields=["parameters_key", "fingerprint", "status"], name="reportrun_reuse_idx")]

    def __str__(self) -> str:
        return f"Report run {self.pk} ({self.status})"

    @property
    def is_finished(self) -> bool:
        return self.status in FINISHED_STATUSES

    @property
    def directory(self) -> Path:
        """MEDIA_ROOT/reports/<id>/ — every artifact of this run lives here."""
        return Path(settings.MEDIA_ROOT) / "reports" / str(self.pk)

    def artifact_path(self, name: str) -> Path:
        if name not in self.artifacts:
            raise FileNotFoundError(f"Run {self.pk} has no artifact named {name!r}.")
        return self.directory / name

    def artifact_url(self, name: str) -> str:
        return f"{settings.MEDIA_URL}reports/{self.pk}/{name}"
