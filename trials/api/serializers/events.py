"""Adverse events, skeletal-related events, study exits."""

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
from trials.models import AdverseEvent, ImagingAssessment, SkeletalEvent, StudyExit


class AdverseEventSerializer(PatientRefReadMixin, ClinicalReadSerializer):
    class Meta:
        model = AdverseEvent
        exclude = HIDDEN_AUDIT_FIELDS


class SkeletalEventSerializer(PatientRefReadMixin, ClinicalReadSerializer):
    class Meta:
        model = SkeletalEvent
        exclude = HIDDEN_AUDIT_FIELDS


class ImagingAssessmentSerializer(PatientRefReadMixin, ClinicalReadSerializer):
    """Imaging follow-up of a treated lesion (terms: Ahmed et al., Radiology 2014;273:241)."""

    class Meta:
        model = ImagingAssessment
        exclude = HIDDEN_AUDIT_FIELDS


class StudyExitSerializer(PatientRefReadMixin, ClinicalReadSerializer):
    class Meta:
        model = StudyExit
        exclude = HIDDEN_AUDIT_FIELDS


# Input fields come from the case-report forms (trials.crf): a field added to a form is accepted here without an edit.
AE_INPUT_FIELDS = crf.form_of(AdverseEvent).entered_fields
SRE_INPUT_FIELDS = crf.form_of(SkeletalEvent).entered_fields
EXIT_INPUT_FIELDS = crf.form_of(StudyExit).entered_fields
IMAGING_INPUT_FIELDS = crf.form_of(ImagingAssessment).entered_fields

AdverseEventCreateSerializer = create_serializer_for(AdverseEvent, AE_INPUT_FIELDS, "AdverseEventCreateSerializer")
AdverseEventUpdateSerializer = update_serializer_for(AdverseEvent, AE_INPUT_FIELDS, "AdverseEventUpdateSerializer")
SkeletalEventCreateSerializer = create_serializer_for(SkeletalEvent, SRE_INPUT_FIELDS, "SkeletalEventCreateSerializer")
SkeletalEventUpdateSerializer = update_serializer_for(SkeletalEvent, SRE_INPUT_FIELDS, "SkeletalEventUpdateSerializer")
StudyExitCreateSerializer = create_serializer_for(
    StudyExit,
    EXIT_INPUT_FIELDS,
    "StudyExitCreateSerializer",
    last_contact_date=serializers.DateField(required=False, help_text="Defaults to the date of death for a death."),
)
StudyExitUpdateSerializer = update_serializer_for(StudyExit, EXIT_INPUT_FIELDS, "StudyExitUpdateSerializer")
ImagingAssessmentCreateSerializer = create_serializer_for(
    ImagingAssessment, IMAGING_INPUT_FIELDS, "ImagingAssessmentCreateSerializer"
)
ImagingAssessmentUpdateSerializer = update_serializer_for(
    ImagingAssessment, IMAGING_INPUT_FIELDS, "ImagingAssessmentUpdateSerializer"
)
