"""Liveness/readiness probe for load balancers and compose healthchecks."""

from django.db import connection
from django.http import JsonResponse


def healthz(request):
    """200 when the database answers; 503 otherwise (the broker is optional: reports queue in the outbox)."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception as exc:  # noqa: BLE001 - any database failure means not ready
        return JsonResponse({"status": "unavailable", "database": str(exc)[:200]}, status=503)
    return JsonResponse({"status": "ok", "database": "ok"})
