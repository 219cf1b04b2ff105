"""Report runs in the admin: read-only; runs are requested through ``run_report`` or the services."""

from django.contrib import admin
from django.utils.html import format_html, format_html_join

from analytics.models import ReportRun


@admin.register(ReportRun)
class ReportRunAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "status",
        "progress",
        "stage",
        "attempts",
        "heartbeat_at",
        "short_fingerprint",
        "requested_by",
        "created_at",
        "finished_at",
    ]
    list_filter = ["status"]
    search_fields = ["fingerprint", "id"]
    readonly_fields = [
        "parameters",
        "parameters_key",
        "status",
        "progress",
        "stage",
        "timings",
        "fingerprint",
        "error_message",
        "attempts",
        "heartbeat_at",
        "delivery",
        "requested_by",
        "created_at",
        "started_at",
        "finished_at",
        "artifact_links",
    ]
    exclude = ["result", "artifacts"]

    @admin.display(description="fingerprint")
    def short_fingerprint(self, run: ReportRun) -> str:
        return run.fingerprint[:12]

    @admin.display(description="artifacts")
    def artifact_links(self, run: ReportRun) -> str:
        if not run.artifacts:
            return "–"
        return format_html(
            "<ul>{}</ul>",
            format_html_join("", '<li><a href="/{}">{}</a></li>', ((run.artifact_url(n), n) for n in run.artifacts)),
        )

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
