"""Sites, patients and lesions."""

from __future__ import annotations

from rest_framework import serializers

from trials import crf
from trials.api.serializers.common import (
    HIDDEN_AUDIT_FIELDS,
    ClinicalReadSerializer,
    PatientRefReadMixin,
    ScopedSlugRelatedField,
    create_serializer_for,
    update_serializer_for,
)
from trials.models import Lesion, Patient, Site


class SiteSerializer(serializers.ModelSerializer):
    class Meta:
        model = Site
        fields = ("id", "code", "name", "country", "active")


class PatientSerializer(ClinicalReadSerializer):
    site: serializers.SlugRelatedField = serializers.SlugRelatedField(slug_field="code", read_only=True, help_text="Site code.")

    class Meta:
        model = Patient
        exclude = HIDDEN_AUDIT_FIELDS


class LesionSerializer(PatientRefReadMixin, ClinicalReadSerializer):
    sins_total = serializers.IntegerField(
        read_only=True, allow_null=True, help_text="SINS 0–18, the sum of the six components (null until all six are recorded)."
    )
    sins_category = serializers.CharField(read_only=True, allow_null=True)

    class Meta:
        model = Lesion
        exclude = HIDDEN_AUDIT_FIELDS


# Input fields come from the case-report forms (trials.crf); which lesion is the index one is decided by the service.
LESION_INPUT_FIELDS = tuple(f for f in crf.form_of(Lesion).entered_fields if f != "is_index")
PATIENT_INPUT_FIELDS = crf.form_of(Patient).entered_fields
PATIENT_UPDATE_FIELDS = tuple(f for f in PATIENT_INPUT_FIELDS if f != "day0")  # day 0 follows the index procedure


class LesionInputSerializer(serializers.ModelSerializer):
    class Meta:
        model = Lesion
        fields = LESION_INPUT_FIELDS
        validators: list = []


class PatientEnrollSerializer(serializers.ModelSerializer):
    """Enrollment: patient fields, the index lesion, and (data managers only) a protocol deviation."""

    site = ScopedSlugRelatedField(slug_field="code", queryset=Site.objects.all(), help_text="Site code, e.g. ATL.")
    index_lesion = LesionInputSerializer()
    protocol_deviation = serializers.CharField(required=False, allow_blank=True, default="")

    class Meta:
        model = Patient
        fields = ("site", *PATIENT_INPUT_FIELDS, "index_lesion", "protocol_deviation")
        validators: list = []


LesionCreateSerializer = create_serializer_for(Lesion, LESION_INPUT_FIELDS, "LesionCreateSerializer")
LesionUpdateSerializer = update_serializer_for(Lesion, LESION_INPUT_FIELDS, "LesionUpdateSerializer")
PatientUpdateSerializer = update_serializer_for(Patient, PATIENT_UPDATE_FIELDS, "PatientUpdateSerializer")
