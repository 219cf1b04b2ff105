"""Report runs over the API (issue 4 §5): request → 202, poll status/progress, download artifacts.

Runs are aggregates over all sites; who may request and read them is decided by
``trials.access`` (``can_request_reports``: investigators, data managers, sponsors).
Writes go through ``analytics.services.report_run_request``. Sponsors get no
timestamps, a result without its metadata block or any date-like string, and
only the PNG plots (tables and CSVs hold record-level rows).
"""

from __future__ import annotations

import re
from pathlib import Path

from django.conf import settings
from django.http import FileResponse
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiResponse,
    PolymorphicProxySerializer,
    extend_schema,
    extend_schema_field,
    extend_schema_view,
)
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.exceptions import NotFound, PermissionDenied
from rest_framework.permissions import BasePermission
from rest_framework.response import Response

from analytics.models import ReportRun, RunStatus
from analytics.parameters import STRATA_VARIABLES
from analytics.services import ReportQuotaExceeded, report_run_request
from apicore.errors import QuotaExceeded, ServiceUnavailable
from apicore.pagination import RegistryCursorPagination
from apicore.permissions import is_sponsor_view
from apicore.views import ApiViewMixin
from trials.access import access_for
from trials.domain.schedule import FOLLOW_UP_CODES

MEDIA_TYPES = {
    ".pdf": "application/pdf",
    ".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    ".json": "application/json",
    ".csv": "text/csv",
    ".png": "image/png",
    ".svg": "image/svg+xml",
}
SPONSOR_ARTIFACT_SUFFIXES = {".png"}
DATE_LIKE = re.compile(r"\d{4}-\d{2}-\d{2}")
BROKER_RETRY_AFTER_SECONDS = 30
ROLES_DOC = "investigators, data managers and sponsors (de-identified); coordinators and site investigators get 403."
CREATE_ROLES_DOC = (
    "investigators and data managers, each with at most `REPORTS_MAX_ACTIVE_RUNS_PER_USER` (default 3) runs queued or "
    "running (429 `quota_exceeded` beyond); sponsors, coordinators and site investigators get 403."
)


def media_type_of(name: str) -> str:
    return MEDIA_TYPES.get(Path(name).suffix.lower(), "application/octet-stream")


def without_dates(value):
    """The result for sponsors: no ``metadata`` block (generation time) and no date-like strings."""
    if isinstance(value, dict):
        return {
            k: without_dates(v) for k, v in value.items() if k != "metadata" and not (isinstance(v, str) and DATE_LIKE.search(v))
        }
    if isinstance(value, list):
        return [without_dates(v) for v in value if not (isinstance(v, str) and DATE_LIKE.search(v))]
    return value


class ReportRunRequestSerializer(serializers.Serializer):
    strata = serializers.ListField(child=serializers.ChoiceField(choices=STRATA_VARIABLES), required=False)
    visits = serializers.ListField(child=serializers.ChoiceField(choices=FOLLOW_UP_CODES), required=False)
    include_hypercalcaemia = serializers.BooleanField(
        required=False, help_text="Count hypercalcaemia of malignancy as an SRE (default false)."
    )
    force = serializers.BooleanField(
        default=False, help_text="Recompute even if a finished run used the same parameters and data."
    )


class ArtifactSerializer(serializers.Serializer):
    name = serializers.CharField()
    url = serializers.CharField()
    media_type = serializers.CharField()


RESULT_SCHEMA = {"type": "object", "nullable": True, "additionalProperties": True, "description": "result.json, once succeeded."}


class ReportRunSerializer(serializers.ModelSerializer):
    url = serializers.SerializerMethodField()
    artifacts = serializers.SerializerMethodField()
    result = serializers.SerializerMethodField()

    class Meta:
        model = ReportRun
        fields: tuple[str, ...] = (
            "id",
            "url",
            "status",
            "progress",
            "stage",
            "fingerprint",
            "parameters",
            "result",
            "artifacts",
            "error_message",
            "attempts",
            "created_at",
            "started_at",
            "finished_at",
        )

    def get_url(self, run) -> str:
        return reverse("api:reportrun-detail", kwargs={"pk": run.pk})

    @extend_schema_field(ArtifactSerializer(many=True))
    def get_artifacts(self, run) -> list[dict]:
        return [
            {
                "name": name,
                "url": reverse("api:reportrun-artifact", kwargs={"pk": run.pk, "name": name}),
                "media_type": media_type_of(name),
            }
            for name in run.artifacts
        ]

    @extend_schema_field(RESULT_SCHEMA)
    def get_result(self, run):
        return run.result if run.status == RunStatus.SUCCEEDED else None


class SponsorReportRunSerializer(ReportRunSerializer):
    """No timestamps, no error text, result without dates, only PNG artifacts."""

    class Meta(ReportRunSerializer.Meta):
        fields = ("id", "url", "status", "progress", "stage", "fingerprint", "parameters", "result", "artifacts")

    def get_artifacts(self, run) -> list[dict]:
        return [a for a in super().get_artifacts(run) if Path(a["name"]).suffix in SPONSOR_ARTIFACT_SUFFIXES]

    @extend_schema_field(RESULT_SCHEMA)
    def get_result(self, run):
        return without_dates(super().get_result(run))


class CanRequestReports(BasePermission):
    """Reading runs: investigators, data managers and sponsors. Starting one: investigators and data managers."""

    message = "Only investigators, data managers and sponsors may request and read report runs."

    def has_permission(self, request, view) -> bool:
        if not (request.user and request.user.is_authenticated):
            return False
        access = access_for(request.user)
        if request.method == "POST" and access.can_request_reports and not access.can_start_reports:
            self.message = "Sponsors read the finished reports; starting a computation is for investigators and data managers."
            return False
        return access.can_request_reports


def broker_check() -> None:
    """Refuse (503 + Retry-After) rather than accept a run no worker will ever receive."""
    if settings.CELERY_TASK_ALWAYS_EAGER:
        return
    from config.celery_app import app

    try:
        with app.connection_for_write() as connection:
            connection.ensure_connection(max_retries=1, timeout=2)
    except Exception as exc:  # noqa: BLE001 - any broker error means "not now"
        raise ServiceUnavailable(
            "The task broker is unavailable; the run was not queued. Retry after the indicated delay.",
            retry_after=BROKER_RETRY_AFTER_SECONDS,
        ) from exc


RUN_VIEW = PolymorphicProxySerializer(
    component_name="ReportRunRoleView",
    serializers=[ReportRunSerializer, SponsorReportRunSerializer],
    resource_type_field_name=None,
)
ARTIFACT_RESPONSES = {
    (200, media): OpenApiResponse(OpenApiTypes.BINARY, description="The artifact file.") for media in MEDIA_TYPES.values()
}


@extend_schema_view(
    list=extend_schema(
        tags=["reports"],
        summary="List report runs",
        description=f"**Roles:** {ROLES_DOC}",
        responses=PolymorphicProxySerializer(
            component_name="ReportRunRoleView",
            serializers=[ReportRunSerializer, SponsorReportRunSerializer],
            resource_type_field_name=None,
            many=True,
        ),
    ),
    retrieve=extend_schema(
        tags=["reports"],
        summary="Status, progress, stage, fingerprint, result and artifact links",
        description=f"**Roles:** {ROLES_DOC}",
        responses=RUN_VIEW,
    ),
    create=extend_schema(
        tags=["reports"],
        summary="Request a report run",
        request=ReportRunRequestSerializer,
        description="Answers 202 with the run and its URL (a finished run with the same parameters and "
        f"data is reused). 503 with Retry-After when the broker is down.\n\n**Roles:** {CREATE_ROLES_DOC}",
        responses={202: RUN_VIEW},
    ),
)
class ReportRunViewSet(
    ApiViewMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin, viewsets.GenericViewSet
):
    permission_classes = [CanRequestReports]
    pagination_class = RegistryCursorPagination
    queryset = ReportRun.objects.all()
    lookup_value_regex = "[0-9]+"
    conditional_requests = False
    extra_error_codes = ["503"]

    def get_serializer_class(self):
        if not getattr(self, "swagger_fake_view", False) and is_sponsor_view(self.request):
            return SponsorReportRunSerializer
        return ReportRunSerializer

    def create(self, request, *args, **kwargs):
        incoming = ReportRunRequestSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        data = dict(incoming.validated_data)
        force = data.pop("force", False)
        broker_check()
        try:
            run, _reused = report_run_request(actor=request.user, parameters=data, force=force)
        except ReportQuotaExceeded as exc:
            raise QuotaExceeded(wait=None, detail=str(exc)) from exc  # 429 quota_exceeded
        run.refresh_from_db()
        if run.status == RunStatus.FAILED and run.error_message.startswith("Could not queue"):
            raise ServiceUnavailable(
                f"Run {run.pk} could not be queued: {run.error_message}", retry_after=BROKER_RETRY_AFTER_SECONDS
            )
        body = self.get_serializer(run).data
        return Response(body, status=status.HTTP_202_ACCEPTED, headers={"Location": body["url"]})

    @extend_schema(
        tags=["reports"],
        summary="Download one artifact",
        description=f"Sponsors: PNG plots only.\n\n**Roles:** {ROLES_DOC}",
        responses=ARTIFACT_RESPONSES,
    )
    def artifact(self, request, pk=None, name=None):
        run = self.get_object()
        if name not in run.artifacts:
            raise NotFound(f"Run {run.pk} has no artifact named {name!r}.")
        if is_sponsor_view(request) and Path(name).suffix not in SPONSOR_ARTIFACT_SUFFIXES:
            raise PermissionDenied("Sponsors may download the plots (PNG) only; tables and CSVs hold record-level data.")
        path = run.artifact_path(name)
        if not path.exists():
            raise NotFound(f"Artifact {name!r} of run {run.pk} is missing on disk.")
        return FileResponse(path.open("rb"), content_type=media_type_of(name), as_attachment=True, filename=name)
