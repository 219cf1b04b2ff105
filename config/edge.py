"""Malformed requests are refused at the edge, before any view: a clear 4xx, never a 500.

- A NUL character (``\\x00``, ``%00``, or the JSON escape ``\\u0000``) in the path, the query string or a
  form/JSON body is a 400: no field of the registry can hold one and PostgreSQL refuses them in text
  (the error would surface as a 500 deep inside a view).
- A JSON or form body larger than ``DATA_UPLOAD_MAX_MEMORY_SIZE`` is a 413 before it is read.

Under ``/api/`` the answer is the API's JSON error shape (``trials.api.errors``); elsewhere a short
page in plain words. The ``handler400/403/404/500`` views below give every other error under ``/api/``
the same JSON shape (e.g. an unexpected 500), and keep Django's HTML pages for the web UI.
"""

from __future__ import annotations

import re

from django.conf import settings
from django.http import HttpResponse, JsonResponse
from django.views import defaults

NUL_ESCAPE = re.compile(rb"(?<!\\)(?:\\\\)*\\u0000")
API_PREFIX = "/api/"
MESSAGES = {
    "nul": "The request contains a NUL character (\\x00), which no field accepts. Remove it and try again.",
    "too_large": "The request body is larger than the {limit} bytes accepted. Send less data per request.",
}


def is_api(request) -> bool:
    return request.path_info.startswith(API_PREFIX)


def error_response(request, status: int, code: str, detail: str, errors: dict | None = None) -> HttpResponse:
    """The API's JSON error body under /api/, a plain-text answer elsewhere."""
    if is_api(request):
        from trials.api.errors import error_body

        return JsonResponse(error_body(status, code, detail, errors), status=status)
    return HttpResponse(detail, status=status, content_type="text/plain; charset=utf-8")


def _has_nul(values) -> bool:
    return any("\x00" in value for value in values)


def nul_location(request) -> str | None:
    """Where a NUL character is, if any: "path", "query", "body" (form fields or JSON text)."""
    if "\x00" in request.path_info:
        return "path"
    if _has_nul(k + v for k, vs in request.GET.lists() for v in vs + [""]):
        return "query"
    content_type = request.content_type or ""
    if content_type == "application/x-www-form-urlencoded" or content_type == "multipart/form-data":
        return "body" if _has_nul(k + v for k, vs in request.POST.lists() for v in vs + [""]) else None
    if "json" in content_type and request.method in ("POST", "PUT", "PATCH", "DELETE"):
        body = request.body
        return "body" if b"\x00" in body or NUL_ESCAPE.search(body) else None
    return None


def body_too_large(request) -> bool:
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    if limit is None or (request.content_type or "") == "multipart/form-data":  # uploads are streamed to disk
        return False
    try:
        return int(request.META.get("CONTENT_LENGTH") or 0) > limit
    except ValueError:
        return True


class MalformedRequestMiddleware:
    """Refuse NUL characters (400) and oversized bodies (413) for every request; see the module docstring."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if body_too_large(request):
            limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
            return error_response(request, 413, "too_large", MESSAGES["too_large"].format(limit=limit))
        where = nul_location(request)
        if where is not None:
            return error_response(request, 400, "invalid", MESSAGES["nul"], {where: [MESSAGES["nul"]]})
        return self.get_response(request)


def _api_or(default_view, status: int, code: str, detail: str):
    """Django's error view for the web UI; the JSON error shape under /api/."""

    def view(request, exception=None):
        if is_api(request):
            return error_response(request, status, code, detail)
        return default_view(request) if status == 500 else default_view(request, exception)

    return view


handler400 = _api_or(defaults.bad_request, 400, "invalid", "The request is malformed.")
handler403 = _api_or(defaults.permission_denied, 403, "permission_denied", "You do not have permission to do this.")
handler404 = _api_or(defaults.page_not_found, 404, "not_found", "Not found.")
handler500 = _api_or(defaults.server_error, 500, "server_error", "An unexpected error occurred; it has been logged.")
