"""Data queries a user may see (scoped to their sites), with their record type and answers in one query each."""

from __future__ import annotations

from trials.access import scope_queryset
from trials.models import DataQuery, QueryStatus


def scoped_queries(user):
    return scope_queryset(user, DataQuery.objects.select_related("patient", "content_type").prefetch_related("responses__author"))


def open_queries_for(user, limit: int = 20) -> list[DataQuery]:
    """Open queries the user's sites must answer (shown on the coordinator worklist)."""
    return list(scoped_queries(user).filter(status=QueryStatus.OPEN).order_by("opened_at")[:limit])
