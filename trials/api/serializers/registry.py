"""Sites, patients and lesions."""

from __future__ import annotations

from rest_framework import serializers

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
    site = serializers.SlugRelatedField(slug_field="code", read_only=True, help_text="Site code.")

    class Meta:
        model = Patient
        exclude = HIDDEN_AUDIT_FIELDS


class LesionSerializer(PatientRefReadMixin, ClinicalReadSerializer):
    sins_total = serializers.IntegerField(read_only=True, allow_null=True, help_text="SINS 0–18, the sum of the six components (null until all six are recorded).")
    sins_category = serializers.CharField(read_only=True, allow_null=True)

    class Meta:
        model = Lesion
        exclude = HIDDEN_AUDIT_FIELDS


LESION_INPUT_FIELDS = (
    "region", "spine_level", "bone", "laterality", "size_mm", "lesion_type", "mechanical_or_functional_pain",
    "sins_pain", "sins_alignment", "sins_collapse", "sins_posterolateral", "bilsky_grade", "posterior_wall_involved",
)
PATIENT_INPUT_FIELDS = (
    "birth_year", "sex", "histology", "ecog", "consent_date", "enrollment_date", "day0",
    "screening_worst_pain", "life_expectancy_over_3_months", "prior_treatment_of_index_lesion",
)
PATIENT_UPDATE_FIELDS = tuple(f for f in PATIENT_INPUT_FIELDS if f != "day0")  # day 0 follows the index procedure


class LesionInputSerializer(serializers.ModelSerializer):
    class Meta:
        model = Lesion
        fields = LESION_INPUT_FIELDS
        validators = []


class PatientEnrollSerializer(serializers.ModelSerializer):
    """Enrollment: patient fields, the index lesion, and (data managers only) a protocol deviation."""

    site = ScopedSlugRelatedField(slug_field="code", queryset=Site.objects.all(), help_text="Site code, e.g. ATL.")
    index_lesion = LesionInputSerializer()
    protocol_deviation = serializers.CharField(required=False, allow_blank=True, default="")

    class Meta:
        model = Patient
        fields = ("site", *PATIENT_INPUT_FIELDS, "index_lesion", "protocol_deviation")
        validators = []


LesionCreateSerializer = create_serializer_for(Lesion, LESION_INPUT_FIELDS, "LesionCreateSerializer")
LesionUpdateSerializer = update_serializer_for(Lesion, LESION_INPUT_FIELDS, "LesionUpdateSerializer")
PatientUpdateSerializer = update_serializer_for(Patient, PATIENT_UPDATE_FIELDS, "PatientUpdateSerializer")
