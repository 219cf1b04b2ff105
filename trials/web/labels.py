"""Words users understand: record and field names, and values, as people read them (issue 11 item 9).

Internal codes (``painassessment.worst``, ``not_applicable``, ``high_sre_risk``)
never reach a page or a message; these helpers turn them into the labels the
forms use. Dates are formatted by the project's format module (``config.formats``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from django.apps import apps
from django.core.exceptions import FieldDoesNotExist
from django.db import models
from django.utils import formats, timezone

from trials.models.base import concrete_field
from trials.web.forms.visit import BPI_LABELS

RECORD_LABELS = {
    "patient": "Patient",
    "lesion": "Lesion",
    "procedure": "Index procedure",
    "radiationcourse": "Radiation course",
    "visit": "Visit",
    "painassessment": "Brief Pain Inventory",
    "medicationuse": "Opioid",
    "adverseevent": "Adverse event",
    "skeletalevent": "Skeletal-related event",
    "imagingassessment": "Imaging follow-up",
    "studyexit": "Study exit",
    "signature": "Signature",
    "lock": "Lock",
    "dataquery": "Data query",
    "membership": "Role",
    "site": "Site",
}

FIELD_LABELS = {
    **BPI_LABELS,
    "relief_pct": "Relief from treatment (%)",
    "opioid_status": "Opioid use at this visit",
    "doses_per_day": "Doses per day",
    "mme_factor": "MME conversion factor",
    "mme_per_day": "MME/day",
    "mme_table_version": "MME table",
    "factor_source": "Source of the conversion factor",
    "sins_total": "SINS total",
    "sins_pain": "SINS pain",
    "sins_alignment": "SINS alignment",
    "sins_collapse": "SINS vertebral body collapse",
    "sins_posterolateral": "SINS posterolateral involvement of spinal elements",
    "bilsky_grade": "Bilsky grade (epidural spinal cord compression)",
    "ecog": "ECOG performance status",
    "mechanical_or_functional_pain": "Causes functional or mechanical pain",
    "ctcae_grade": "CTCAE grade",
    "sir_grade": "SIR grade",
    "voided_at": "Voided",
    "void_reason": "Reason for voiding",
    "invalidated_at": "Invalidated",
    "invalidated_by_version": "Invalidated by the edit to version",
    "meaning_code": "Meaning",
    "meaning": "Statement signed",
}


def model_for(model_name: str) -> type[models.Model] | None:
    try:
        return apps.get_model("trials", model_name)
    except LookupError:
        return None


def record_label(model_name: str) -> str:
    """'painassessment' -> 'Brief Pain Inventory'; an unknown name is capitalised, never shown raw."""
    return RECORD_LABELS.get(model_name, model_name.replace("_", " ").capitalize())


def field_label(model_name: str, field_name: str) -> str:
    """The label a user knows for ``field_name`` of ``model_name`` (form label, else verbose name)."""
    if field_name in FIELD_LABELS:
        return FIELD_LABELS[field_name]
    model = model_for(model_name)
    if model is not None:
        try:
            return str(concrete_field(model, field_name).verbose_name).capitalize()
        except FieldDoesNotExist:
            pass
    return field_name.replace("_", " ").capitalize()


def record_field_label(model_name: str, field_name: str) -> str:
    """'painassessment', 'worst' -> 'Brief Pain Inventory: Worst pain in the last 24 hours'."""
    return f"{record_label(model_name)}: {field_label(model_name, field_name)}"


def value_label(model: type[models.Model] | None, field_name: str, value, related: RelatedLabels | None = None) -> str:
    """A stored value as a user reads it: choice labels, the UI date format, yes/no, decimals without trailing zeros.

    A foreign key shows the related record's ``str``: looked up in ``related`` (``related_labels``, one query per
    related model for a whole page) when given, else by one query."""
    if value is None or value == "":
        return "(empty)"
    field = None
    if model is not None:
        try:
            field = concrete_field(model, field_name)
        except FieldDoesNotExist:
            field = None
    if field is not None and field.choices:
        return str(dict(field.flatchoices).get(value, value))
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, dt.datetime):
        return formats.date_format(timezone.localtime(value) if timezone.is_aware(value) else value, "DATETIME_FORMAT")
    if isinstance(value, dt.date):
        return formats.date_format(value, "DATE_FORMAT")
    if isinstance(value, Decimal):
        return f"{value.normalize():f}"
    if field is not None and field.is_relation and field.related_model is not None:
        if related is not None and (field.related_model, value) in related:
            return related[field.related_model, value]
        record = field.related_model._default_manager.filter(pk=value).first()
        return str(record) if record is not None else str(value)
    return str(value)


RelatedLabels = dict[tuple[type[models.Model], Any], str]


def related_labels(model: type[models.Model], rows: Iterable, *, exclude: Iterable[str] = ()) -> RelatedLabels:
    """``str`` of every record the foreign keys of ``rows`` (instances or history rows of ``model``) point to.

    One ``in_bulk`` query per related model, whatever the number of rows; for ``value_label(..., related=)``.
    """
    wanted: dict[type[models.Model], set] = {}
    skip = set(exclude)
    for field in model._meta.concrete_fields:
        if field.is_relation and field.related_model is not None and field.name not in skip:
            ids = {getattr(row, field.attname, None) for row in rows} - {None, ""}
            if ids:
                wanted.setdefault(field.related_model, set()).update(ids)
    labels: RelatedLabels = {}
    for related_model, ids in wanted.items():
        found = related_model._default_manager.in_bulk(list(ids))
        labels.update({(related_model, pk): str(found[pk]) if pk in found else str(pk) for pk in ids})
    return labels
