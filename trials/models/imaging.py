"""Imaging follow-up of a treated lesion: local tumour control after ablation (issue 10, part B).

Terms and definitions are those of the standardisation of image-guided ablation reporting
(Ahmed M, Solbiati L, Brace CL, et al. Image-guided tumor ablation: standardization of terminology
and reporting criteria — a 10-year update. Radiology 2014;273:241–260; docs/domain.md §12):

- **Technical success**: the tumour was treated as planned and the ablation zone covers it
  completely, judged on the first post-procedure imaging (here: ``first_post_procedure`` with
  ``viable_tumour`` = none).
- **Residual unablated tumour** (incomplete ablation): viable tumour at the first post-procedure
  imaging.
- **Local tumour progression (LTP)**: tumour foci at the edge of the ablation zone after at least one
  follow-up study documented complete ablation; timed from the ablation (day 0).
"""

from __future__ import annotations

from django.db import models
from django.db.models import F, Q
from simple_history.models import HistoricalRecords

from trials.models.base import RepeatingRecord
from trials.models.patients import Patient


class ImagingModality(models.TextChoices):
    CT = "ct", "CT (contrast-enhanced)"
    MRI = "mri", "MRI (contrast-enhanced)"
    PET_CT = "pet_ct", "PET-CT"


class ViableTumour(models.TextChoices):
    """Viable tumour in or at the edge of the ablation zone (Ahmed et al., Radiology 2014;273:241)."""

    NONE = "none", "None: complete ablation"
    PRESENT = "present", "Present: residual unablated or recurrent tumour"
    NOT_EVALUABLE = "not_evaluable", "Not evaluable"


class ImagingAssessment(RepeatingRecord):
    """One imaging study of one treated lesion after the index ablation."""

    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="imaging_assessments")
    lesion_instance = models.PositiveSmallIntegerField(
        "Treated lesion number",
        help_text="Number of the treated lesion on the Treated lesion form (1 = the first lesion entered).",
    )
    assessment_date = models.DateField("Imaging date")
    imaging_modality = models.CharField("Imaging modality", max_length=8, choices=ImagingModality.choices)
    first_post_procedure = models.BooleanField(
        "First post-procedure imaging",
        default=False,
        help_text="The first imaging after the ablation, on which technical success is judged.",
    )
    viable_tumour = models.CharField(
        "Viable tumour in or at the edge of the ablation zone", max_length=16, choices=ViableTumour.choices
    )
    local_tumour_progression = models.BooleanField(
        "Local tumour progression",
        default=False,
        help_text="New tumour at the edge of the ablation zone after imaging had shown complete ablation.",
    )
    ltp_date = models.DateField(
        "Date local tumour progression was first seen", null=True, blank=True, help_text="Required when LTP is yes."
    )
    history = HistoricalRecords()

    class Meta:
        ordering = ["patient_id", "assessment_date"]
        constraints = [
            models.CheckConstraint(
                condition=Q(local_tumour_progression=False, ltp_date__isnull=True)
                | Q(local_tumour_progression=True, ltp_date__isnull=False),
                name="imaging_ltp_date_with_ltp",
            ),
            models.CheckConstraint(
                condition=Q(ltp_date__isnull=True) | Q(ltp_date__lte=F("assessment_date")),
                name="imaging_ltp_not_after_assessment",
            ),
            models.CheckConstraint(condition=Q(lesion_instance__gte=1), name="imaging_lesion_instance_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.patient_id} imaging lesion {self.lesion_instance} {self.assessment_date}"
