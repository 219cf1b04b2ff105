"""One viewset per registry resource; writes call the services named in each ``create_record``."""

from __future__ import annotations

import dataclasses

from django.db.models import Prefetch

from apicore.etags import expected_version
from trials import services
from trials.api import filters
from trials.api.serializers import events, registry, treatment
from trials.api.serializers import visits as visit_serializers
from trials.api.viewsets.base import ClinicalRecordViewSet, CreateRecordMixin, HistoryMixin, RegistryReadViewSet
from trials.api.viewsets.documentation import document_resource
from trials.models import (
    AdverseEvent,
    ImagingAssessment,
    Lesion,
    MedicationUse,
    Patient,
    Procedure,
    RadiationCourse,
    Site,
    SkeletalEvent,
    StudyExit,
    Visit,
)


@document_resource("sites", label="sites")
class SiteViewSet(HistoryMixin, RegistryReadViewSet):
    """Participating sites (managed in the admin; read-only here)."""

    base_queryset = Site.objects.all()
    serializer_class = registry.SiteSerializer
    filterset_class = filters.SiteFilterSet


@document_resource("patients", label="patients")
class PatientViewSet(CreateRecordMixin, ClinicalRecordViewSet):
    """Patients, addressed by study ID. POST enrolls (eligibility per docs/domain.md §1) with the index lesion."""

    base_queryset = Patient.objects.select_related("site")
    serializer_class = registry.PatientSerializer
    filterset_class = filters.PatientFilterSet
    create_serializer_class = registry.PatientEnrollSerializer
    update_serializer_class = registry.PatientUpdateSerializer
    lookup_field = "study_id"
    lookup_value_regex = "[A-Z]{2,8}-[0-9]{4}"

    def create_record(self, data):
        site, lesion, deviation = data.pop("site"), data.pop("index_lesion"), data.pop("protocol_deviation", "")
        return services.patient_enroll(
            actor=self.request.user, site=site, patient_data=data, lesion_data=dict(lesion), protocol_deviation=deviation
        )


@document_resource("lesions", label="lesions")
class LesionViewSet(CreateRecordMixin, ClinicalRecordViewSet):
    """Treated lesions; POST adds a non-index lesion (the index lesion comes with enrollment)."""

    base_queryset = Lesion.objects.select_related("patient")
    serializer_class = registry.LesionSerializer
    filterset_class = filters.LesionFilterSet
    create_serializer_class = registry.LesionCreateSerializer
    update_serializer_class = registry.LesionUpdateSerializer

    def create_record(self, data):
        patient = data.pop("patient")
        return services.lesion_add(actor=self.request.user, patient=patient, lesion_data=data)


@document_resource("procedures", label="procedures")
class ProcedureViewSet(CreateRecordMixin, ClinicalRecordViewSet):
    """The index ablation; recording it sets day 0 to its date."""

    base_queryset = Procedure.objects.select_related("patient").prefetch_related("lesions")
    serializer_class = treatment.ProcedureSerializer
    filterset_class = filters.ProcedureFilterSet
    create_serializer_class = treatment.ProcedureCreateSerializer
    update_serializer_class = treatment.ProcedureUpdateSerializer
    create_service = services.procedure_record


@document_resource("radiation-courses", label="radiation courses")
class RadiationCourseViewSet(CreateRecordMixin, ClinicalRecordViewSet):
    """The protocol's planned radiation course (never an SRE; docs/domain.md §6)."""

    base_queryset = RadiationCourse.objects.select_related("patient")
    serializer_class = treatment.RadiationCourseSerializer
    filterset_class = filters.RadiationCourseFilterSet
    create_serializer_class = treatment.RadiationCourseCreateSerializer
    update_serializer_class = treatment.RadiationCourseUpdateSerializer
    create_service = services.radiation_record


@document_resource("adverse-events", label="adverse events")
class AdverseEventViewSet(CreateRecordMixin, ClinicalRecordViewSet):
    base_queryset = AdverseEvent.objects.select_related("patient")
    serializer_class = events.AdverseEventSerializer
    filterset_class = filters.AdverseEventFilterSet
    create_serializer_class = events.AdverseEventCreateSerializer
    update_serializer_class = events.AdverseEventUpdateSerializer
    create_service = services.adverse_event_report


@document_resource("skeletal-events", label="skeletal-related events")
class SkeletalEventViewSet(CreateRecordMixin, ClinicalRecordViewSet):
    base_queryset = SkeletalEvent.objects.select_related("patient")
    serializer_class = events.SkeletalEventSerializer
    filterset_class = filters.SkeletalEventFilterSet
    create_serializer_class = events.SkeletalEventCreateSerializer
    update_serializer_class = events.SkeletalEventUpdateSerializer
    create_service = services.skeletal_event_report


@document_resource("imaging-assessments", label="imaging follow-up assessments")
class ImagingAssessmentViewSet(CreateRecordMixin, ClinicalRecordViewSet):
    """Imaging follow-up of a treated lesion after the index ablation: technical success and local tumour progression
    (terms: Ahmed et al., Radiology 2014;273:241)."""

    base_queryset = ImagingAssessment.objects.select_related("patient")
    serializer_class = events.ImagingAssessmentSerializer
    filterset_class = filters.ImagingAssessmentFilterSet
    create_serializer_class = events.ImagingAssessmentCreateSerializer
    update_serializer_class = events.ImagingAssessmentUpdateSerializer
    create_service = services.imaging_assessment_record


@document_resource("study-exits", label="study exits")
class StudyExitViewSet(CreateRecordMixin, ClinicalRecordViewSet):
    base_queryset = StudyExit.objects.select_related("patient")
    serializer_class = events.StudyExitSerializer
    filterset_class = filters.StudyExitFilterSet
    create_serializer_class = events.StudyExitCreateSerializer
    update_serializer_class = events.StudyExitUpdateSerializer
    create_service = services.study_exit_record


VISIT_QUERYSET = Visit.objects.select_related("patient", "pain").prefetch_related(
    Prefetch("medications", queryset=MedicationUse.objects.order_by("id"))
)


@document_resource("visits", label="visits")
class VisitViewSet(ClinicalRecordViewSet):
    """Scheduled visits (generated at enrollment) with BPI and opioid entries. PUT/PATCH record the visit data."""

    base_queryset = VISIT_QUERYSET
    serializer_class = visit_serializers.VisitSerializer
    filterset_class = filters.VisitFilterSet
    update_serializer_class = visit_serializers.VisitRecordSerializer

    def apply_update(self, instance, data, *, partial):
        """PATCH changes the parts it names (BPI items merge); PUT replaces date, opioid answer and rows."""
        parts = {
            name: data[name]
            for name in ("visit_date", "pain", "opioid_status", "medications", "missing_codes", "not_done_reason")
            if name in data
        }
        if partial:
            base = services.VisitData.from_visit(instance)
        else:
            # PUT replaces: only the BPI items merge (as before); codes and 'not done' start empty.
            base = dataclasses.replace(
                services.VisitData.from_visit(instance), visit_date=None, medications=[], missing_codes={}, not_done_reason=""
            )
        return services.visit_record(
            actor=self.request.user,
            visit=instance,
            data=base.with_changes(**parts),
            reason=data.get("reason") or None,
            expected_version=expected_version(self.request),
        )
