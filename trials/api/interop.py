"""API for data management and interoperability (issue 6): exports (ODM, REDCap, XLSX), data queries,
visit signatures and locks. Views are thin: scoping by ``scope_queryset``, decisions by the services.
"""

from __future__ import annotations

from collections.abc import Callable

from django.core.exceptions import ImproperlyConfigured
from django.http import HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404
from django.urls import path
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound, PermissionDenied
from rest_framework.permissions import BasePermission
from rest_framework.response import Response
from rest_framework.views import APIView

from trials.access import access_for, scope_queryset
from trials.api.exports import IgnoreAcceptNegotiation
from trials.api.permissions import RegistryRolePermission
from trials.api.viewsets.base import ApiViewMixin
from trials.interop.dataset_json import dataset_build, dataset_json_stream, dataset_names
from trials.interop.exports import registry_xlsx
from trials.interop.odm import odm_build, odm_bytes
from trials.interop.redcap import dictionary_csv, records_csv, repeating_instruments_csv
from trials.models import DataQuery, Lock, LockScope, Patient, Signature, SignatureMeaning, Site, Visit
from trials.services import data_queries, locking, signoff

STAFF_ONLY = "Every registry role except sponsors (whose access is de-identified); rows scoped to the caller."
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


class StaffReadPermission(RegistryRolePermission):
    """Reads for staff roles; sponsors get 403 (free text and calendar dates)."""

    def has_permission(self, request, view) -> bool:
        if not super().has_permission(request, view):
            return False
        if access_for(request.user).is_sponsor_only:
            self.message = "Sponsors see de-identified data only; use /api/v1/export/registry.xlsx."
            return False
        return True


class HasRegistryRole(BasePermission):
    """Authenticated with any registry role; the service decides the rest (403 via PermissionDenied)."""

    message = "Your account has no registry role."

    def has_permission(self, request, view) -> bool:
        user = request.user
        return bool(user and user.is_authenticated and access_for(user).has_registry_role)


def _download(content: bytes | str, content_type: str, filename: str) -> HttpResponse:
    response = HttpResponse(content, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


class _FileExport(ApiViewMixin, APIView):
    permission_classes = [StaffReadPermission]
    content_negotiation_class = IgnoreAcceptNegotiation
    conditional_requests = False


class OdmExportView(_FileExport):
    @extend_schema(
        tags=["export"],
        summary="CDISC ODM 1.3.2 export",
        description=STAFF_ONLY,
        responses={(200, "application/xml"): OpenApiResponse(OpenApiTypes.STR)},
    )
    def get(self, request):
        return _download(odm_bytes(odm_build(request.user)), "application/xml", "registry-odm.xml")


class RedcapDictionaryView(_FileExport):
    @extend_schema(
        tags=["export"],
        summary="REDCap data dictionary CSV",
        description=STAFF_ONLY,
        responses={(200, "text/csv"): OpenApiResponse(OpenApiTypes.STR)},
    )
    def get(self, request):
        return _download(dictionary_csv(), "text/csv; charset=utf-8", "dictionary.csv")


class DatasetJsonView(_FileExport):
    permission_classes = [RegistryRolePermission]

    @extend_schema(
        tags=["export"],
        summary="CDISC Dataset-JSON v1.1 (JSON or NDJSON), streamed",
        description="Analysis data sets `adsl`, `adtte`, `adresp` and the registry tables (`patients`, `visits`, "
        "`adverse-events`…) with Dataset-JSON metadata. Scoped to the caller; sponsors get the de-identified "
        "form (days from day 0, no free text, age with 90+).",
        responses={(200, "application/json"): OpenApiResponse(OpenApiTypes.OBJECT)},
    )
    def get(self, request, name: str, fmt: str):
        if name not in dataset_names() or fmt not in ("json", "ndjson"):
            raise NotFound(
                f"No Dataset-JSON export {name}.{fmt}; choose one of {', '.join(dataset_names())} as .json or .ndjson."
            )
        stream = dataset_json_stream(dataset_build(name, request.user), ndjson=fmt == "ndjson")
        content_type = "application/x-ndjson" if fmt == "ndjson" else "application/json"
        response = StreamingHttpResponse(stream, content_type=f"{content_type}; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="{name}.{fmt}"'
        return response


class RedcapRepeatingInstrumentsView(_FileExport):
    @extend_schema(
        tags=["export"],
        summary="REDCap repeating-instruments declaration CSV (event_name, form_name)",
        description=STAFF_ONLY,
        responses={(200, "text/csv"): OpenApiResponse(OpenApiTypes.STR)},
    )
    def get(self, request):
        return _download(repeating_instruments_csv(), "text/csv; charset=utf-8", "repeating_instruments.csv")


class RedcapRecordsView(_FileExport):
    @extend_schema(
        tags=["export"],
        summary="REDCap records (flat longitudinal CSV)",
        description=STAFF_ONLY,
        responses={(200, "text/csv"): OpenApiResponse(OpenApiTypes.STR)},
    )
    def get(self, request):
        return _download(records_csv(request.user), "text/csv; charset=utf-8", "records.csv")


class RegistryWorkbookView(_FileExport):
    permission_classes = [RegistryRolePermission]

    @extend_schema(
        tags=["export"],
        summary="All registry tables as one XLSX workbook",
        description="Scoped to the caller; sponsors get the de-identified tables (days from day 0, no free text).",
        responses={(200, XLSX): OpenApiResponse(OpenApiTypes.BINARY)},
    )
    def get(self, request):
        return _download(registry_xlsx(request.user), XLSX, "registry.xlsx")


# --- data queries ---------------------------------------------------------------------------------------------------


class DataQueryResponseSerializer(serializers.Serializer):
    action = serializers.CharField()
    author = serializers.CharField(source="author.username", default=None)
    message = serializers.CharField()
    old_value = serializers.CharField()
    new_value = serializers.CharField()
    created_at = serializers.DateTimeField()


class DataQuerySerializer(serializers.ModelSerializer):
    patient = serializers.CharField(source="patient.study_id", read_only=True)
    record_type = serializers.CharField(source="content_type.model", read_only=True)
    status = serializers.CharField(read_only=True, help_text="open, answered or closed")
    responses = DataQueryResponseSerializer(many=True, read_only=True)

    class Meta:
        model = DataQuery
        fields = (
            "id",
            "patient",
            "record_type",
            "object_id",
            "field_name",
            "message",
            "status",
            "rule_code",
            "opened_at",
            "closed_at",
            "responses",
        )


class DataQueryOpenSerializer(serializers.Serializer):
    record_type = serializers.ChoiceField(
        choices=[
            "patient",
            "lesion",
            "procedure",
            "radiationcourse",
            "visit",
            "painassessment",
            "medicationuse",
            "adverseevent",
            "skeletalevent",
            "imagingassessment",
            "studyexit",
        ]
    )
    object_id = serializers.IntegerField()
    field_name = serializers.CharField()  # type: ignore[assignment]  # the API's field is named field_name
    message = serializers.CharField()


class MessageSerializer(serializers.Serializer):
    message = serializers.CharField(required=False, allow_blank=True, default="")


def _queries(user):
    return scope_queryset(user, DataQuery.objects.select_related("patient", "content_type").prefetch_related("responses__author"))


class DataQueryListView(ApiViewMixin, APIView):
    permission_classes = [StaffReadPermission]

    @extend_schema(tags=["data management"], summary="Data queries (open first)", responses=DataQuerySerializer(many=True))
    def get(self, request):
        queries = _queries(request.user)
        if request.query_params.get("status"):
            queries = queries.filter(status=request.query_params["status"])
        return Response(DataQuerySerializer(queries.order_by("status", "-opened_at")[:500], many=True).data)

    @extend_schema(
        tags=["data management"],
        summary="Open a query (data managers)",
        request=DataQueryOpenSerializer,
        responses={201: DataQuerySerializer},
    )
    def post(self, request):
        _require_data_manager(request.user)
        data = DataQueryOpenSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        model = DataQuery._meta.apps.get_model("trials", data.validated_data["record_type"])
        record = get_object_or_404(scope_queryset(request.user, model.objects.all()), pk=data.validated_data["object_id"])
        query = data_queries.data_query_open(
            actor=request.user,
            record=record,
            field_name=data.validated_data["field_name"],
            message=data.validated_data["message"],
        )
        return Response(DataQuerySerializer(query).data, status=status.HTTP_201_CREATED)


def _require_data_manager(user) -> None:
    if not access_for(user).is_data_manager:
        raise PermissionDenied("Only a data manager may do this.")


class _QueryActionView(ApiViewMixin, APIView):
    permission_classes = [HasRegistryRole]
    service: Callable[..., DataQuery] | None = None
    data_manager_only = True

    @extend_schema(tags=["data management"], request=MessageSerializer, responses=DataQuerySerializer)
    def post(self, request, pk: int):
        if self.data_manager_only:
            _require_data_manager(request.user)
        query = get_object_or_404(_queries(request.user), pk=pk)
        data = MessageSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        service = type(self).service
        if service is None:
            raise ImproperlyConfigured("service is not set on this view")
        query = service(actor=request.user, query=query, message=data.validated_data["message"])
        return Response(DataQuerySerializer(_queries(request.user).get(pk=query.pk)).data)


class DataQueryAnswerView(_QueryActionView):
    """The site answers (coordinators of the site, data managers)."""

    permission_classes = [RegistryRolePermission]
    service = staticmethod(data_queries.data_query_answer)
    data_manager_only = False


class DataQueryCloseView(_QueryActionView):
    service = staticmethod(data_queries.data_query_close)


class DataQueryReopenView(_QueryActionView):
    service = staticmethod(data_queries.data_query_reopen)


# --- signatures -----------------------------------------------------------------------------------------------------


class SignSerializer(serializers.Serializer):
    password = serializers.CharField(write_only=True, help_text="Your password, re-entered: the electronic signature.")
    meaning = serializers.ChoiceField(
        choices=SignatureMeaning.choices,
        required=False,
        default=signoff.DEFAULT_MEANING,
        help_text="What the signature means (21 CFR 11.50): author, review or approval.",
    )


class SignatureSerializer(serializers.ModelSerializer):
    signer = serializers.CharField(source="signer.username")

    class Meta:
        model = Signature
        fields = (
            "id",
            "visit",
            "signer",
            "printed_name",
            "meaning_code",
            "meaning",
            "signed_at",
            "time_zone",
            "visit_version",
            "invalidated_at",
            "invalidated_by_version",
        )


class VisitSignView(ApiViewMixin, APIView):
    permission_classes = [HasRegistryRole]

    @extend_schema(
        tags=["data management"],
        summary="Sign a completed visit (site investigators)",
        request=SignSerializer,
        responses={201: SignatureSerializer},
    )
    def post(self, request, pk: int):
        if not access_for(request.user).is_site_investigator:
            raise PermissionDenied("Only site investigators sign visits.")
        visit = get_object_or_404(scope_queryset(request.user, Visit.objects.all()), pk=pk)
        data = SignSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        signature = signoff.visit_sign(
            actor=request.user, visit=visit, password=data.validated_data["password"], meaning=data.validated_data["meaning"]
        )
        return Response(SignatureSerializer(signature).data, status=status.HTTP_201_CREATED)


# --- locks ----------------------------------------------------------------------------------------------------------


class LockSerializer(serializers.ModelSerializer):
    patient = serializers.CharField(source="patient.study_id", default=None, allow_null=True)
    site = serializers.CharField(source="site.code", default=None, allow_null=True)
    locked_by = serializers.CharField(source="locked_by.username")

    class Meta:
        model = Lock
        fields = ("id", "scope", "patient", "site", "reason", "locked_by", "locked_at", "unlocked_at", "unlock_reason")


class LockCreateSerializer(serializers.Serializer):
    scope = serializers.ChoiceField(
        choices=LockScope.choices,
        required=False,
        allow_null=True,
        default=None,
        help_text="patient, site or study; may be omitted only when a patient is given.",
    )
    patient = serializers.CharField(required=False, allow_null=True, default=None, help_text="Study ID (scope patient).")
    site = serializers.CharField(required=False, allow_null=True, default=None, help_text="Site code (scope site).")
    reason = serializers.CharField()

    def validate(self, attrs):
        scope = attrs.get("scope") or (LockScope.PATIENT if attrs.get("patient") else None)
        if scope is None:
            raise serializers.ValidationError({"scope": "Choose what to lock: patient, site or study."})
        needed = {LockScope.PATIENT: "patient", LockScope.SITE: "site"}.get(scope)
        if needed and not attrs.get(needed):
            raise serializers.ValidationError({needed: f"A {scope} lock needs the {needed}."})
        return {**attrs, "scope": scope}


class LockListView(ApiViewMixin, APIView):
    permission_classes = [StaffReadPermission]

    @extend_schema(tags=["data management"], summary="Locks (active first)", responses=LockSerializer(many=True))
    def get(self, request):
        locks = Lock.objects.select_related("patient", "site", "locked_by").order_by("unlocked_at", "-locked_at")
        locks = locking.visible_locks(request.user, locks)
        return Response(LockSerializer(locks[:500], many=True).data)

    @extend_schema(
        tags=["data management"],
        summary="Lock a patient or the whole study (data managers)",
        request=LockCreateSerializer,
        responses={201: LockSerializer},
    )
    def post(self, request):
        _require_data_manager(request.user)
        data = LockCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        scope, reason = data.validated_data["scope"], data.validated_data["reason"]
        if scope == LockScope.PATIENT:
            patient = get_object_or_404(
                scope_queryset(request.user, Patient.objects.all()), study_id=data.validated_data["patient"]
            )
            lock = locking.patient_lock(actor=request.user, patient=patient, reason=reason)
        elif scope == LockScope.SITE:
            site = get_object_or_404(Site.objects.all(), code=data.validated_data["site"])
            lock = locking.site_lock(actor=request.user, site=site, reason=reason)
        else:
            lock = locking.study_lock(actor=request.user, reason=reason)
        return Response(LockSerializer(lock).data, status=status.HTTP_201_CREATED)


class LockReleaseView(ApiViewMixin, APIView):
    permission_classes = [HasRegistryRole]

    @extend_schema(
        tags=["data management"],
        summary="Unlock with a reason (data managers)",
        request=MessageSerializer,
        responses=LockSerializer,
    )
    def post(self, request, pk: int):
        _require_data_manager(request.user)
        lock = get_object_or_404(Lock.objects.all(), pk=pk)
        data = MessageSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        lock = locking.lock_release(actor=request.user, lock=lock, reason=data.validated_data["message"])
        return Response(LockSerializer(lock).data)


urlpatterns = [
    path("export/odm.xml", OdmExportView.as_view(), name="export-odm"),
    path("export/redcap/dictionary.csv", RedcapDictionaryView.as_view(), name="export-redcap-dictionary"),
    path("export/dataset-json/<slug:name>.<slug:fmt>", DatasetJsonView.as_view(), name="export-dataset-json"),
    path(
        "export/redcap/repeating_instruments.csv",
        RedcapRepeatingInstrumentsView.as_view(),
        name="export-redcap-repeating-instruments",
    ),
    path("export/redcap/records.csv", RedcapRecordsView.as_view(), name="export-redcap-records"),
    path("export/registry.xlsx", RegistryWorkbookView.as_view(), name="export-registry-xlsx"),
    path("data-queries/", DataQueryListView.as_view(), name="dataquery-list"),
    path("data-queries/<int:pk>/answer/", DataQueryAnswerView.as_view(), name="dataquery-answer"),
    path("data-queries/<int:pk>/close/", DataQueryCloseView.as_view(), name="dataquery-close"),
    path("data-queries/<int:pk>/reopen/", DataQueryReopenView.as_view(), name="dataquery-reopen"),
    path("signatures/visits/<int:pk>/", VisitSignView.as_view(), name="visit-sign"),
    path("locks/", LockListView.as_view(), name="lock-list"),
    path("locks/<int:pk>/unlock/", LockReleaseView.as_view(), name="lock-unlock"),
]
