"""Data queries: open → answered (or corrected with a reason) → closed, re-openable (issue 6).

A data manager opens a query on one field of one record (automatic rules open
them too, see ``data_query_rules``); the site answers, or corrects the value
through the ordinary audited services; the data manager closes or re-opens it.
Every step is one message in the query's thread and one row in its history.
"""

from __future__ import annotations

from typing import Any, cast

from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import FieldDoesNotExist, PermissionDenied
from django.db import models, transaction
from django.utils import timezone

from trials.access import access_for, require_site_write
from trials.errors import DomainValidationError
from trials.models import DataQuery, DataQueryResponse, PainAssessment, QueryAction, QueryStatus, Visit
from trials.models.base import ClinicalRecord, stamp_history
from trials.services.corrections import clinical_record_update
from trials.services.data_query_rules import data_queries_run_rules
from trials.services.locking import patient_id_of
from trials.services.text import require_clean_text
from trials.services.visits import PAIN_FIELDS, VisitData, visit_record

__all__ = [
    "data_queries_run_rules",
    "data_query_answer",
    "data_query_close",
    "data_query_correct",
    "data_query_open",
    "data_query_reopen",
]


def _require_data_manager(actor) -> None:
    if not access_for(actor).is_data_manager:
        raise PermissionDenied("Only a data manager may open, close or re-open queries.")


def _require_message(message: str | None, field: str = "message") -> str:
    if not message or not message.strip():
        raise DomainValidationError({field: "A message is required."})
    require_clean_text(message, field)
    return message.strip()


def _respond(query: DataQuery, *, actor, action: str, message: str = "", old: Any = "", new: Any = "") -> None:
    DataQueryResponse.objects.create(
        query=query,
        action=action,
        author=actor,
        message=message,
        old_value="" if old is None else str(old),
        new_value="" if new is None else str(new),
    )


def _save(query: DataQuery, *, actor, reason: str) -> DataQuery:
    stamp_history(query, actor, reason)
    query.save()
    return query


def _locked_query(query: DataQuery) -> DataQuery:
    return DataQuery.objects.select_for_update().select_related("patient").get(pk=query.pk)


@transaction.atomic
def data_query_open(*, actor, record: models.Model, field_name: str, message: str | None) -> DataQuery:
    """A data manager asks about ``record.field_name``."""
    _require_data_manager(actor)
    message = _require_message(message)
    try:
        field = record._meta.get_field(field_name)
    except FieldDoesNotExist:
        field = None
    if field is None or not field.concrete:
        raise DomainValidationError({"field_name": f"{type(record).__name__} has no field {field_name!r}."})
    patient_id = patient_id_of(record)
    if patient_id is None:
        raise DomainValidationError({"object_id": "Queries are opened on a saved record of an enrolled patient."})
    query = DataQuery(
        content_type=ContentType.objects.get_for_model(type(record)),
        object_id=record.pk,
        field_name=field_name,
        patient_id=patient_id,
        message=message,
        opened_by=actor,
    )
    _save(query, actor=actor, reason="Query opened")
    _respond(query, actor=actor, action=QueryAction.OPEN, message=message)
    return query


def _require_not_closed(query: DataQuery) -> None:
    if query.status == QueryStatus.CLOSED:
        raise DomainValidationError({"status": "This query is closed; a data manager must re-open it first."})


@transaction.atomic
def data_query_answer(*, actor, query: DataQuery, message: str | None) -> DataQuery:
    """The site explains the value (it stays as it is)."""
    query = _locked_query(query)
    require_site_write(actor, query.patient.site_id)
    message = _require_message(message)
    _require_not_closed(query)
    query.status = QueryStatus.ANSWERED
    _save(query, actor=actor, reason="Query answered")
    _respond(query, actor=actor, action=QueryAction.ANSWER, message=message)
    return query


def _apply_correction(actor, record: models.Model, field_name: str, value: Any, reason: str) -> None:
    """Visit and BPI values go through ``visit_record`` (its rules); anything else through ``clinical_record_update``."""
    if isinstance(record, PainAssessment | Visit) and field_name in (*PAIN_FIELDS, "visit_date"):
        visit = record.visit if isinstance(record, PainAssessment) else record
        change = {"visit_date": value} if field_name == "visit_date" else {"pain": {field_name: value}}
        visit_record(actor=actor, visit=visit, data=VisitData.from_visit(visit).with_changes(**change), reason=reason)
        return
    clinical_record_update(actor=actor, instance=cast(ClinicalRecord, record), changes={field_name: value}, reason=reason)


@transaction.atomic
def data_query_correct(*, actor, query: DataQuery, value: Any, reason: str | None) -> DataQuery:
    """The site corrects the queried value with a reason; the correction is audited on the record too."""
    query = _locked_query(query)
    require_site_write(actor, query.patient.site_id)
    reason = _require_message(reason, "reason")
    _require_not_closed(query)
    record = query.record
    if record is None:
        raise DomainValidationError({"value": "The queried record no longer exists; close the query with a note instead."})
    old = getattr(record, query.field_name)
    # The record's history reason holds 100 characters; the full reason stays in the query thread.
    _apply_correction(actor, record, query.field_name, value, f"Query #{query.pk}: {reason}"[:100])
    record.refresh_from_db()
    query.status = QueryStatus.ANSWERED
    _save(query, actor=actor, reason="Value corrected")
    _respond(query, actor=actor, action=QueryAction.CORRECTION, message=reason, old=old, new=getattr(record, query.field_name))
    return query


@transaction.atomic
def data_query_close(*, actor, query: DataQuery, message: str = "") -> DataQuery:
    _require_data_manager(actor)
    query = _locked_query(query)
    _require_not_closed(query)
    require_clean_text(message, "message")
    query.status, query.closed_at, query.closed_by = QueryStatus.CLOSED, timezone.now(), actor
    _save(query, actor=actor, reason="Query closed")
    _respond(query, actor=actor, action=QueryAction.CLOSE, message=(message or "").strip())
    return query


@transaction.atomic
def data_query_reopen(*, actor, query: DataQuery, message: str | None) -> DataQuery:
    """A data manager is not satisfied: the query goes back to the site (reason required)."""
    _require_data_manager(actor)
    message = _require_message(message)
    query = _locked_query(query)
    if query.status == QueryStatus.OPEN:
        raise DomainValidationError({"status": "This query is already open."})
    if query.rule_code and query.status == QueryStatus.CLOSED:
        twin = (
            DataQuery.objects.filter(
                content_type_id=query.content_type_id,
                object_id=query.object_id,
                field_name=query.field_name,
                rule_code=query.rule_code,
            )
            .exclude(status=QueryStatus.CLOSED)
            .exclude(pk=query.pk)
        )
        if twin.exists():
            raise DomainValidationError(
                {"status": f"Query #{twin.values_list('pk', flat=True)[0]} on the same field is still unresolved."}
            )
    query.status, query.closed_at, query.closed_by = QueryStatus.OPEN, None, None
    _save(query, actor=actor, reason="Query re-opened")
    _respond(query, actor=actor, action=QueryAction.REOPEN, message=message)
    return query
