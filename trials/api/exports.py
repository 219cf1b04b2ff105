"""Streaming CSV exports: ``GET /api/v1/export/<resource>.csv``.

The tables and their columns are ``trials.interop.tabular``'s (the same as the CSV/XLSX files); this module
writes them as CSV in blocks of ``ROWS_PER_BLOCK`` rows into a streaming response, so memory stays flat however
many rows there are. Sponsors get the de-identified columns (docs/domain.md §10): dates as days from day 0, no
free text, age instead of birth year.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator

from django.db import connection
from django.http import StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.exceptions import NotFound
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.views import APIView

from apicore.permissions import ROLE_DOC_READ, RegistryRolePermission, is_sponsor_view
from apicore.views import ApiViewMixin
from trials.access import scope_queryset
from trials.interop.csv_copy import copy_csv_blocks
from trials.interop.tabular import EXPORTS, sponsor_columns, sponsor_rows, spreadsheet_rows, staff_rows, text_column_indexes

ROWS_PER_BLOCK = 2000


def _csv_blocks(header: list[str], rows: Iterator[tuple | list]) -> Iterator[bytes]:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    block: list[tuple | list] = []
    for row in rows:
        block.append(row)
        if len(block) >= ROWS_PER_BLOCK:
            writer.writerows(block)
            block.clear()
            yield buffer.getvalue().encode()
            buffer.seek(0)
            buffer.truncate()
    writer.writerows(block)
    yield buffer.getvalue().encode()


def export_stream(user, resource: str, *, sponsor: bool) -> Iterator[bytes]:
    """The CSV of one resource as UTF-8 bytes in blocks: written by PostgreSQL (``COPY``, ``trials.interop.csv_copy``),
    else by ``csv.writer``; the same bytes either way."""
    spec = EXPORTS[resource]
    queryset = scope_queryset(user, spec.model._default_manager.all())
    if connection.vendor == "postgresql":
        return copy_csv_blocks(spec, queryset, sponsor=sponsor)
    header, rows = (sponsor_rows if sponsor else staff_rows)(spec, queryset, as_text=True)
    columns = sponsor_columns(spec) if sponsor else list(spec.columns)
    return _csv_blocks(header, spreadsheet_rows(rows, text_column_indexes(spec.model, columns)))


class IgnoreAcceptNegotiation(BaseContentNegotiation):
    """The export answers CSV (errors JSON) whatever ``Accept`` says."""

    def select_parser(self, request, parsers):
        return parsers[0] if parsers else None

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


class ExportView(ApiViewMixin, APIView):
    permission_classes = [RegistryRolePermission]
    content_negotiation_class = IgnoreAcceptNegotiation
    conditional_requests = False

    @extend_schema(
        tags=["export"],
        summary="Stream one resource as CSV",
        description=f"All rows your role may see, ordered by id, streamed in blocks.\n\n**Roles:** {ROLE_DOC_READ}",
        parameters=[OpenApiParameter("resource", OpenApiTypes.STR, OpenApiParameter.PATH, enum=sorted(EXPORTS))],
        responses={(200, "text/csv"): OpenApiResponse(OpenApiTypes.STR, description="CSV with a header row.")},
    )
    def get(self, request, resource: str):
        if resource not in EXPORTS:
            raise NotFound(f"No export named {resource!r}; choose one of {', '.join(sorted(EXPORTS))}.")
        stream = export_stream(request.user, resource, sponsor=is_sponsor_view(request))
        response = StreamingHttpResponse(stream, content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="{resource}.csv"'
        return response
