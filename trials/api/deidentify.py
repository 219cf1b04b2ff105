"""Sponsor representations, derived from the staff ones by one rule set (docs/domain.md §10).

- every calendar date ``<name>_date`` / ``<name>`` becomes ``<name>_day``: days from the patient's day 0
  (the index procedure); day 0 itself is dropped (it is 0 by definition);
- free text (terms, device and implant names, causes, locations, reasons…) and audit stamps are withheld;
- birth year becomes age at enrollment (registry convention: enrollment year − birth year).

A staff serializer field this module does not know how to de-identify (a datetime
that is not an audit stamp) makes the build fail, so new fields cannot leak.
"""

from __future__ import annotations

import copy

from rest_framework import serializers

from trials.models import Patient

FREE_TEXT_FIELDS = frozenset(
    {"term", "device", "implant_type", "death_cause", "location", "void_reason", "protocol_deviation",
     "factor_source", "mme_table_version", "reason", "name"}
)
AUDIT_STAMP_FIELDS = frozenset({"created_at", "updated_at", "voided_at", "created_by", "updated_by", "voided_by"})
DROPPED_DATE_FIELDS = frozenset({"day0"})


def day_field_name(date_field: str) -> str:
    stem = date_field[: -len("_date")] if date_field.endswith("_date") else date_field
    return f"{stem}_day"


def day0_of(instance) -> object:
    if isinstance(instance, Patient):
        return instance.day0
    if hasattr(instance, "patient"):
        return instance.patient.day0
    return instance.visit.patient.day0


class DaysFromDay0Field(serializers.IntegerField):
    """A date shown as whole days from day 0 (negative = before the index procedure)."""

    def __init__(self, *, date_attr: str, **kwargs):
        self.date_attr = date_attr
        super().__init__(read_only=True, **kwargs)

    def get_attribute(self, instance):
        value = getattr(instance, self.date_attr)
        return None if value is None else (value - day0_of(instance)).days

    def to_representation(self, value):
        return value


class AgeAtEnrollmentField(serializers.IntegerField):
    def __init__(self, **kwargs):
        super().__init__(read_only=True, help_text="Age in years at enrollment (enrollment year − birth year).", **kwargs)

    def get_attribute(self, instance):
        return instance.enrollment_date.year - instance.birth_year

    def to_representation(self, value):
        return value


_SPONSOR_CLASSES: dict[type, type] = {}


def _sponsor_field(name: str, field: serializers.Field) -> tuple[str, serializers.Field] | None:
    if name in FREE_TEXT_FIELDS or name in AUDIT_STAMP_FIELDS or name in DROPPED_DATE_FIELDS:
        return None
    if name == "birth_year":
        return "age", AgeAtEnrollmentField()
    if isinstance(field, serializers.DateTimeField):
        raise TypeError(f"Field {name!r} is a timestamp with no de-identification rule; add one in trials.api.deidentify.")
    if isinstance(field, serializers.DateField):
        return day_field_name(name), DaysFromDay0Field(date_attr=field.source or name, allow_null=field.allow_null)
    if isinstance(field, serializers.ListSerializer):
        child = sponsor_serializer(type(field.child))
        source = field.source if field.source != name else None
        return name, type(field)(child=child(), read_only=True, **({"source": source} if source else {}))
    if isinstance(field, serializers.BaseSerializer):
        return name, sponsor_serializer(type(field))(**{**field._kwargs, "read_only": True})
    return name, copy.deepcopy(field)


def sponsor_serializer(staff_class: type[serializers.BaseSerializer]) -> type[serializers.Serializer]:
    """The de-identified counterpart of ``staff_class`` (built once, cached)."""
    if staff_class not in _SPONSOR_CLASSES:
        attrs: dict[str, object] = {"__module__": __name__, "__doc__": f"De-identified {staff_class.__name__} (sponsor view)."}
        for name, field in staff_class().fields.items():
            converted = _sponsor_field(name, field)
            if converted is not None:
                attrs[converted[0]] = converted[1]
        if hasattr(staff_class, "Meta"):  # lets the schema generator type related-key fields
            attrs["Meta"] = type("Meta", (), {"model": staff_class.Meta.model})
        name = "Sponsor" + staff_class.__name__
        _SPONSOR_CLASSES[staff_class] = type(name, (serializers.Serializer,), attrs)
    return _SPONSOR_CLASSES[staff_class]
