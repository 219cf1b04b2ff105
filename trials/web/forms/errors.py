"""Put a service's DomainValidationError messages beside the fields they name (or on the page)."""

from __future__ import annotations

import re

from django import forms
from django.contrib import messages as page_messages

from trials.errors import DomainValidationError

ROW_KEY = re.compile(r"^(?P<list>\w+)\[(?P<index>\d+)\]\.(?P<field>\w+)$")


def domain_errors_to_form(form: forms.Form, exc: DomainValidationError, *, prefix: str = "") -> None:
    """Attach each error to ``form``'s field (after stripping ``prefix``), else to the form as a whole.

    Service keys look like ``visit_date``, ``pain.worst`` or ``lesion.spine_level``.
    """
    for key, messages in exc.errors.items():
        name = key[len(prefix) :] if prefix and key.startswith(prefix) else key
        target = name if name in form.fields else None
        for message in messages:
            form.add_error(target, message if target else _with_field(key, message))


def row_errors_to_formset(formset: forms.BaseFormSet, exc: DomainValidationError, *, list_name: str, row_forms: list) -> set[str]:
    """Attach ``<list_name>[i].field`` errors to the i-th submitted row form; returns the keys it used."""
    used = set()
    for key, messages in exc.errors.items():
        match = ROW_KEY.match(key)
        if not match or match["list"] != list_name:
            continue
        index = int(match["index"])
        if index >= len(row_forms):
            continue
        form = row_forms[index]
        field = match["field"] if match["field"] in form.fields else None
        for message in messages:
            form.add_error(field, message if field else _with_field(match["field"], message))
        used.add(key)
    return used


def apply_showing_errors(request, action, **kwargs) -> bool:
    """Call the service ``action(actor=request.user, **kwargs)``; True if it succeeded. Its DomainValidationError
    becomes one page message per field ("Reason: …") and False, so the page is shown again with nothing changed."""
    try:
        action(actor=request.user, **kwargs)
    except DomainValidationError as exc:
        for field, msgs in exc.errors.items():
            page_messages.error(request, f"{field.replace('_', ' ').capitalize()}: {' '.join(msgs)}")
        return False
    return True


def _with_field(key: str, message: str) -> str:
    if key in ("non_field_errors", "__all__"):
        return message
    from trials.web.labels import RECORD_LABELS, field_label

    record, _, name = key.rpartition(".")
    model_name = {"pain": "painassessment"}.get(record, record)
    label = field_label(model_name, name)
    if model_name in RECORD_LABELS and model_name != "visit":
        label = f"{RECORD_LABELS[model_name]}: {label}"
    return f"{label}: {message}"
