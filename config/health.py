"""Liveness/readiness probe for load balancers and compose healthchecks."""

import logging

from django.db import connection
from django.http import JsonResponse

logger = logging.getLogger(__name__)


def healthz(request):
    """200 ``{"status": "ok"}`` when the database answers, else 503 ``{"status": "unavailable"}``.

    Anyone may call it, so the body says nothing else: the database error (which
    names its host and port) goes to the server log only. The broker is optional
    (report requests are refused with 503 while it is down).
    """
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception:  # noqa: BLE001 - any database failure means not ready
        logger.exception("Health check: the database did not answer")
        response = JsonResponse({"status": "unavailable"}, status=503)
    else:
        response = JsonResponse({"status": "ok"})
    response["Cache-Control"] = "no-store"
    return response
