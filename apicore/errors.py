"""One JSON error shape for every API error (400/401/403/404/409/413/428/429/500/503).

``{"status": 400, "code": "invalid", "detail": "…", "errors": {"pain.worst": ["…"]}}`` —
``errors`` maps a field (dotted for nested input, ``[i]`` for list items) to
messages naming the rule; it is ``{}`` when no field is at fault.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from rest_framework import exceptions, serializers, status
from rest_framework.views import exception_handler as drf_exception_handler

from trials.errors import ConflictError, DomainValidationError


class ErrorSerializer(serializers.Serializer):
    """The documented error body."""

    status = serializers.IntegerField(help_text="HTTP status code, repeated for convenience.")
    code = serializers.CharField(help_text="Machine-readable code, e.g. invalid, not_authenticated, conflict, throttled.")
    detail = serializers.CharField(help_text="Human-readable summary.")
    errors = serializers.DictField(  # type: ignore[assignment]  # the documented body's key, not Serializer.errors
        child=serializers.ListField(child=serializers.CharField()),
        help_text="Per-field messages naming the rule; keys are field names (nested: `pain.worst`, `medications[0].dose`).",
    )


class Conflict(exceptions.APIException):
    field_errors: dict[str, list[str]]
    status_code = status.HTTP_409_CONFLICT
    default_code = "conflict"
    default_detail = "The record changed since the version your edit was based on."


class PreconditionRequired(exceptions.APIException):
    """428: an update or void of a clinical record must say which version it is based on (``If-Match``)."""

    status_code = 428
    default_code = "precondition_required"
    default_detail = (
        'Send If-Match with the record version your change is based on (the ETag of the record, e.g. "3"), '
        "so that a change made meanwhile by someone else is not silently overwritten."
    )

    def __init__(self, detail: str | None = None):
        super().__init__(detail)
        self.field_errors = {"If-Match": [str(self.detail)]}


class ServiceUnavailable(exceptions.APIException):
    """A backing service (the task broker) is down; the client should retry after ``retry_after`` seconds."""

    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_code = "service_unavailable"
    default_detail = "A backing service is unavailable; retry later."

    def __init__(self, detail: str | None = None, *, retry_after: int = 30):
        super().__init__(detail)
        self.retry_after = retry_after


def flatten_errors(detail: Any, prefix: str = "") -> dict[str, list[str]]:
    """DRF's nested error structure → ``{"a.b": [...], "items[0].c": [...]}``."""
    if isinstance(detail, dict):
        flat: dict[str, list[str]] = {}
        for key, value in detail.items():
            if isinstance(key, int):  # ListField item errors
                flat.update(flatten_errors(value, f"{prefix}[{key}]"))
            else:
                flat.update(flatten_errors(value, f"{prefix}.{key}" if prefix else str(key)))
        return flat
    if isinstance(detail, list) and any(isinstance(item, dict | list) for item in detail):
        flat = {}
        for index, item in enumerate(detail):
            flat.update(flatten_errors(item, f"{prefix}[{index}]"))
        return flat
    messages = detail if isinstance(detail, list) else [detail]
    return {prefix or "non_field_errors": [str(m) for m in messages]} if messages else {}


class QuotaExceeded(exceptions.Throttled):
    """429 ``quota_exceeded``: a per-user limit of work in progress (analytics' report runs), not a request rate."""

    default_code = "quota_exceeded"


def _as_api_exception(exc: Exception) -> Exception:
    if isinstance(exc, DomainValidationError):
        return exceptions.ValidationError(exc.errors)
    if isinstance(exc, ConflictError):
        conflict = Conflict(str(exc))
        conflict.field_errors = {"If-Match": [str(exc)]}
        return conflict
    if isinstance(exc, DjangoPermissionDenied):
        return exceptions.PermissionDenied(str(exc) or None)
    if isinstance(exc, Http404):
        return exceptions.NotFound()
    return exc


def error_body(status_code: int, code: str, detail: str, errors: dict[str, list[str]] | None = None) -> dict[str, Any]:
    return {"status": status_code, "code": code, "detail": detail, "errors": errors or {}}


def api_exception_handler(exc: Exception, context: dict) -> Any:
    """DRF exception handler: domain errors → HTTP statuses, every body in the one error shape."""
    exc = _as_api_exception(exc)
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        errors = flatten_errors(exc.detail)
        detail = "Invalid input: " + "; ".join(f"{field}: {' '.join(msgs)}" for field, msgs in errors.items())
        code = "invalid"
    else:
        errors = getattr(exc, "field_errors", {})
        detail = str(getattr(exc, "detail", exc))
        codes = exc.get_codes() if isinstance(exc, exceptions.APIException) else "error"
        code = codes if isinstance(codes, str) else "error"
    if isinstance(exc, ServiceUnavailable):
        response["Retry-After"] = str(exc.retry_after)
    response.data = error_body(response.status_code, code, detail, errors)
    return response


@csrf_exempt  # a 404 whatever the method; never Django's HTML CSRF page
def api_not_found(request, *args, **kwargs) -> JsonResponse:
    """JSON 404 for any path under /api/v1/ that matches no endpoint."""
    return JsonResponse(error_body(404, "not_found", f"No API endpoint at {request.path}."), status=404)
