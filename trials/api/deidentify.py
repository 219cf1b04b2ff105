"""Sponsor serializers, derived from the staff ones by the rule set of ``trials.deidentification`` (docs/domain.md §10).

A staff serializer field this module does not know how to de-identify (a datetime
that is not an audit stamp) makes the build fail, so new fields cannot leak.
"""

from __future__ import annotations

import copy
from typing import Any, cast

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from trials.deidentification import (
    AUDIT_STAMP_FIELDS,
    DROPPED_DATE_FIELDS,
    FREE_TEXT_FIELDS,
    day_field_name,
    is_device_identifier,
)
from trials.domain.age import AGE_TOP_CATEGORY, age_deidentified
from trials.models import Patient


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


@extend_schema_field({"oneOf": [{"type": "integer", "maximum": AGE_TOP_CATEGORY - 1}, {"type": "string", "enum": ["90+"]}]})
class AgeAtEnrollmentField(serializers.Field):
    def __init__(self, **kwargs):
        super().__init__(
            read_only=True,
            help_text='Age in years at enrollment (enrollment year − birth year); ages of 90 and over are the string "90+" '
            "(HIPAA Safe Harbor, 45 CFR 164.514(b)(2)).",
            **kwargs,
        )

    def get_attribute(self, instance):
        return age_deidentified(instance.enrollment_date.year, instance.birth_year)

    def to_representation(self, value):
        return value


_SPONSOR_CLASSES: dict[type, type] = {}


def _sponsor_field(name: str, field: Any) -> tuple[str, serializers.Field] | None:
    if name in FREE_TEXT_FIELDS or name in AUDIT_STAMP_FIELDS or name in DROPPED_DATE_FIELDS or is_device_identifier(name):
        return None
    if name == "birth_year":
        return "age", AgeAtEnrollmentField()
    if isinstance(field, serializers.DateTimeField):
        raise TypeError(f"Field {name!r} is a timestamp with no de-identification rule; add one in trials.api.deidentify.")
    if isinstance(field, serializers.DateField):
        return day_field_name(name), DaysFromDay0Field(date_attr=field.source or name, allow_null=field.allow_null)
    if isinstance(field, serializers.ListSerializer):
        child = sponsor_serializer(type(cast(serializers.BaseSerializer, field.child)))
        extra: dict[str, Any] = {"source": field.source} if field.source and field.source != name else {}
        return name, type(field)(child=child(), read_only=True, **extra)
    if isinstance(field, serializers.BaseSerializer):
        return name, sponsor_serializer(type(field))(**{**field._kwargs, "read_only": True})  # type: ignore[attr-defined]
    return name, copy.deepcopy(field)


def sponsor_serializer(staff_class: type[serializers.BaseSerializer]) -> type[serializers.Serializer]:
    """The de-identified counterpart of ``staff_class`` (built once, cached)."""
    if staff_class not in _SPONSOR_CLASSES:
        attrs: dict[str, object] = {"__module__": __name__, "__doc__": f"De-identified {staff_class.__name__} (sponsor view)."}
        for name, field in staff_class().fields.items():  # type: ignore[attr-defined]  # a Serializer class
            converted = _sponsor_field(name, field)
            if converted is not None:
                attrs[converted[0]] = converted[1]
        if hasattr(staff_class, "Meta"):  # lets the schema generator type related-key fields
            attrs["Meta"] = type("Meta", (), {"model": staff_class.Meta.model})
        name = "Sponsor" + staff_class.__name__
        _SPONSOR_CLASSES[staff_class] = type(name, (serializers.Serializer,), attrs)
    return _SPONSOR_CLASSES[staff_class]
