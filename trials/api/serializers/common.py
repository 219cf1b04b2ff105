"""Pieces shared by the resource serializers."""

from __future__ import annotations

from rest_framework import serializers

from trials.access import scope_queryset

HIDDEN_AUDIT_FIELDS = ("created_by", "updated_by", "voided_by")
REASON_REQUIRED = "A reason for change is required when changing data already entered."


class ClinicalReadSerializer(serializers.ModelSerializer):
    """Base of every clinical record representation: model fields plus ``voided``."""

    voided = serializers.BooleanField(
        source="is_voided", read_only=True, help_text="Voided records stay, marked (never deleted)."
    )


class PatientRefReadMixin(serializers.Serializer):
    patient: serializers.SlugRelatedField = serializers.SlugRelatedField(
        slug_field="study_id", read_only=True, help_text="Study ID, e.g. ATL-0007."
    )


class ScopedSlugRelatedField(serializers.SlugRelatedField):
    """A reference by slug (study ID, site code) resolved among the rows the caller may read."""

    def get_queryset(self):
        return scope_queryset(self.context["request"].user, super().get_queryset())


class ReasonSerializer(serializers.Serializer):
    reason = serializers.CharField(
        help_text="Why the data are changed or voided (kept in the audit history).",
        error_messages={"required": REASON_REQUIRED, "blank": REASON_REQUIRED, "null": REASON_REQUIRED},
    )


def update_serializer_for(model, fields: tuple[str, ...], name: str) -> type[serializers.ModelSerializer]:
    """Input for PUT/PATCH of a clinical record: the editable fields plus the mandatory ``reason``."""
    meta = type("Meta", (), {"model": model, "fields": (*fields, "reason"), "validators": []})
    return type(name, (ReasonSerializer, serializers.ModelSerializer), {"Meta": meta, "__module__": __name__})


def create_serializer_for(model, fields: tuple[str, ...], name: str, **declared) -> type[serializers.ModelSerializer]:
    """Input for POST of a clinical record: the patient by study ID (among readable ones) plus fields."""
    from trials.models import Patient

    meta = type(
        "Meta", (), {"model": model, "fields": ("patient", *fields, *(d for d in declared if d not in fields)), "validators": []}
    )
    attrs = {
        "Meta": meta,
        "__module__": __name__,
        "patient": ScopedSlugRelatedField(slug_field="study_id", queryset=Patient.objects.all(), help_text="Study ID."),
        **declared,
    }
    return type(name, (serializers.ModelSerializer,), attrs)
