"""File exports for staff and sponsors (issue 6, issue 13): CDISC ODM, the REDCap dictionary, repeating instruments
and records, Dataset-JSON and the XLSX workbook. Scoped to the caller; the files are built by ``trials.interop``.
"""

from __future__ import annotations

from django.http import HttpResponse, StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.exceptions import NotFound
from rest_framework.views import APIView

from apicore.permissions import RegistryRolePermission, StaffReadPermission
from apicore.views import ApiViewMixin
from trials.api.exports import IgnoreAcceptNegotiation
from trials.interop.dataset_json import dataset_build, dataset_json_stream, dataset_names
from trials.interop.exports import registry_xlsx
from trials.interop.odm import odm_build, odm_bytes
from trials.interop.redcap import dictionary_csv, records_csv, repeating_instruments_csv

STAFF_ONLY = "Every registry role except sponsors (whose access is de-identified); rows scoped to the caller."
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


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
