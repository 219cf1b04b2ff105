"""Malformed requests are refused at the edge, before any view: a clear 4xx, never a 500.

- A NUL character (``\\x00``, ``%00``, or the JSON escape ``\\u0000``) in the path, the query string or a
  form/JSON body is a 400: no field of the registry can hold one and PostgreSQL refuses them in text
  (the error would surface as a 500 deep inside a view).
- A JSON or form body larger than ``DATA_UPLOAD_MAX_MEMORY_SIZE`` is a 413 before it is read.

Under ``/api/`` the answer is the API's JSON error shape (``apicore.errors``); elsewhere a short
page in plain words. The ``handler400/403/404/500`` views below give every other error under ``/api/``
the same JSON shape (e.g. an unexpected 500), and keep Django's HTML pages for the web UI.
"""

from __future__ import annotations

import json
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
        from apicore.errors import error_body

        return JsonResponse(error_body(status, code, detail, errors), status=status)
    return HttpResponse(detail, status=status, content_type="text/plain; charset=utf-8")


def _nul_keys(pairs) -> list[str]:
    return [key for key, value in pairs if "\x00" in key or "\x00" in value]


def _json_nul_paths(value) -> list[str]:
    """Fields (``a.b``, ``items[0].c``, as in the API's error keys) whose JSON key or value holds a NUL."""
    found, stack = [], [("", value)]
    while stack:
        path, item = stack.pop()
        if isinstance(item, dict):
            for key, child in item.items():
                child_path = f"{path}.{key}" if path else str(key)
                if "\x00" in str(key):
                    found.append(child_path)
                else:
                    stack.append((child_path, child))
        elif isinstance(item, list):
            stack.extend((f"{path}[{index}]", child) for index, child in enumerate(item))
        elif isinstance(item, str) and "\x00" in item:
            found.append(path or "body")
    return sorted(found)


def nul_fields(request) -> list[str]:
    """Where NUL characters are: ``["path"]``, the query parameters, or the form/JSON fields holding one."""
    if "\x00" in request.path_info:
        return ["path"]
    query = _nul_keys((k, v) for k, vs in request.GET.lists() for v in vs or [""])
    if query:
        return query
    content_type = request.content_type or ""
    if content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
        return _nul_keys((k, v) for k, vs in request.POST.lists() for v in vs or [""])
    if "json" in content_type and request.method in ("POST", "PUT", "PATCH", "DELETE"):
        body = request.body
        if b"\x00" not in body and not NUL_ESCAPE.search(body):
            return []
        try:
            return _json_nul_paths(json.loads(body)) or ["body"]
        except (ValueError, RecursionError):
            return ["body"]
    return []


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
        fields = nul_fields(request)
        if fields:
            detail = f"Invalid input: {', '.join(fields)}: {MESSAGES['nul']}"
            return error_response(request, 400, "invalid", detail, {field: [MESSAGES["nul"]] for field in fields})
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
