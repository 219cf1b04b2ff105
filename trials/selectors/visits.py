"""A visit with its BPI and its active opioid rows: the one prefetch every reader of visit data uses."""

from __future__ import annotations

from django.db.models import Prefetch, QuerySet

from trials.models import MedicationUse, Visit

# The attribute the prefetch fills: the visit's opioid rows that are not voided, in ``queryset`` order.
ACTIVE_MEDICATIONS = "active_medications"


def active_medications_prefetch(queryset: QuerySet[MedicationUse] | None = None) -> Prefetch:
    """Prefetch of a visit's active opioid rows into ``visit.active_medications``.

    ``queryset`` (default: active rows by id) lets a caller annotate or order them (the exports add each row's
    last change reason and keep the source's instance order); it must only hold rows that are not voided.
    """
    rows = queryset if queryset is not None else MedicationUse.objects.active().order_by("id")
    return Prefetch("medications", queryset=rows, to_attr=ACTIVE_MEDICATIONS)


def visits_with_pain_and_medications(visits: QuerySet[Visit]) -> QuerySet[Visit]:
    """``visits`` with each visit's BPI (``visit.pain``, joined) and active opioid rows (prefetched)."""
    return visits.select_related("pain").prefetch_related(active_medications_prefetch())


def active_medications(visit: Visit) -> list[MedicationUse]:
    """The visit's opioid rows that are not voided, by id: the prefetched list when the visit was loaded through
    ``active_medications_prefetch``, else one query."""
    rows = getattr(visit, ACTIVE_MEDICATIONS, None)
    if rows is None:
        rows = [m for m in visit.medications.all() if m.voided_at is None]
    return sorted(rows, key=lambda m: m.pk or 0)
