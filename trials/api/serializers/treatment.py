"""Index procedure and radiation course."""

from __future__ import annotations

from rest_framework import serializers

from trials import crf
from trials.api.serializers.common import (
    HIDDEN_AUDIT_FIELDS,
    ClinicalReadSerializer,
    PatientRefReadMixin,
    create_serializer_for,
    update_serializer_for,
)
from trials.models import Procedure, RadiationCourse


class ProcedureSerializer(PatientRefReadMixin, ClinicalReadSerializer):
    lesions: serializers.PrimaryKeyRelatedField = serializers.PrimaryKeyRelatedField(
        many=True, read_only=True, help_text="Treated lesion IDs."
    )

    class Meta:
        model = Procedure
        exclude = HIDDEN_AUDIT_FIELDS


class RadiationCourseSerializer(PatientRefReadMixin, ClinicalReadSerializer):
    bed_gy = serializers.FloatField(read_only=True, help_text="BED = n·d·(1 + d/(α/β)), α/β of the course.")
    eqd2_gy = serializers.FloatField(read_only=True, help_text="EQD2 = BED / (1 + 2/(α/β)).")
    interval_days = serializers.IntegerField(read_only=True, help_text="Days from day 0 to the start of radiation.")

    class Meta:
        model = RadiationCourse
        exclude = HIDDEN_AUDIT_FIELDS


# Input fields come from the case-report forms (trials.crf).
PROCEDURE_INPUT_FIELDS = crf.form_of(Procedure).entered_fields
# The procedure date is day 0 and moves the visit schedule: it is set once, at recording.
PROCEDURE_UPDATE_FIELDS = tuple(f for f in PROCEDURE_INPUT_FIELDS if f != "procedure_date")
RADIATION_INPUT_FIELDS = crf.form_of(RadiationCourse).entered_fields

ProcedureCreateSerializer = create_serializer_for(Procedure, PROCEDURE_INPUT_FIELDS, "ProcedureCreateSerializer")
ProcedureUpdateSerializer = update_serializer_for(Procedure, PROCEDURE_UPDATE_FIELDS, "ProcedureUpdateSerializer")
RadiationCourseCreateSerializer = create_serializer_for(
    RadiationCourse, RADIATION_INPUT_FIELDS, "RadiationCourseCreateSerializer"
)
RadiationCourseUpdateSerializer = update_serializer_for(
    RadiationCourse, RADIATION_INPUT_FIELDS, "RadiationCourseUpdateSerializer"
)
