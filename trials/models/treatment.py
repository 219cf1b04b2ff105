from __future__ import annotations

from django.db import models
from django.db.models import F, Q
from simple_history.models import HistoricalRecords

from trials.domain import radiation
from trials.models.base import ClinicalRecord, RepeatingRecord
from trials.models.patients import Lesion, Patient


class Modality(models.TextChoices):
    RFA = "RFA", "Radiofrequency ablation"
    MWA = "MWA", "Microwave ablation"
    CRYO = "cryo", "Cryoablation"
    OTHER = "other", "Other"


class Augmentation(models.TextChoices):
    NONE = "none", "None"
    CEMENT = "cement", "Cement (PMMA)"
    IMPLANT = "implant", "Implant"


class CementTechnique(models.TextChoices):
    VERTEBROPLASTY = "vertebroplasty", "Vertebroplasty"
    KYPHOPLASTY = "kyphoplasty", "Kyphoplasty"
    OSTEOPLASTY = "osteoplasty", "Osteoplasty"


class Anesthesia(models.TextChoices):
    GENERAL = "general", "General"
    SEDATION = "sedation", "Moderate / deep sedation"
    LOCAL = "local", "Local only"


class Intent(models.TextChoices):
    PALLIATIVE = "palliative", "Palliation of pain"
    LOCAL_CONTROL = "local_control", "Local tumour control"


class Guidance(models.TextChoices):
    CT = "ct", "CT"
    CONE_BEAM_CT = "cbct", "Cone-beam CT"
    CT_FLUOROSCOPY = "ct_fluoroscopy", "CT fluoroscopy"
    FLUOROSCOPY = "fluoroscopy", "Fluoroscopy"
    ROBOTIC = "robotic", "Robotic"
    NAVIGATION = "navigation", "Navigation-assisted"


class RadiationDoseUnit(models.TextChoices):
    DAP = "dap_gycm2", "Dose-area product (Gy·cm²)"
    DLP = "dlp_mgycm", "Dose-length product (mGy·cm)"


class NeuromonitoringType(models.TextChoices):
    NONE = "none", "None"
    SENSORY = "sensory", "Sensory"
    MOTOR = "motor", "Motor"
    BOTH = "both", "Sensory and motor"


class CementFill(models.TextChoices):
    COMPLETE = "complete", "Complete"
    PARTIAL = "partial", "Partial"
    NONE = "none", "None"


class Procedure(ClinicalRecord):
    """The index ablation, with augmentation (DESIGN.md domain model)."""

    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="procedures")
    lesions = models.ManyToManyField(Lesion, related_name="procedures")
    is_index = models.BooleanField(default=True)
    procedure_date = models.DateField()
    modality = models.CharField(max_length=8, choices=Modality.choices)
    device = models.CharField(max_length=120, blank=True)
    probes = models.PositiveSmallIntegerField(default=1)
    ablation_minutes = models.DecimalField(max_digits=6, decimal_places=1, null=True, blank=True)
    thermal_protection = models.BooleanField(default=False)
    neuromonitoring = models.BooleanField(default=False)
    anesthesia = models.CharField(max_length=16, choices=Anesthesia.choices, default=Anesthesia.SEDATION)
    augmentation = models.CharField(max_length=8, choices=Augmentation.choices, default=Augmentation.NONE)
    cement_technique = models.CharField(max_length=16, choices=CementTechnique.choices, blank=True)
    cement_volume_ml = models.DecimalField(max_digits=5, decimal_places=1, null=True, blank=True)
    cement_leakage = models.BooleanField(null=True, blank=True)
    implant_type = models.CharField(max_length=120, blank=True)
    # Interview fields (issue 10, part B), each declared once: model + migration + trials.crf.
    intent = models.CharField(
        "Procedure intent",
        max_length=16,
        choices=Intent.choices,
        blank=True,
        help_text="Palliation of pain, or local tumour control (cryoablation is often chosen for it).",
    )
    guidance = models.CharField("Image guidance", max_length=16, choices=Guidance.choices, blank=True)
    fluoroscopy_seconds = models.PositiveIntegerField("Fluoroscopy time (s)", null=True, blank=True)
    radiation_dose = models.DecimalField(
        "Procedural radiation dose",
        max_digits=9,
        decimal_places=2,
        null=True,
        blank=True,
        help_text="Dose-area product or dose-length product; give its unit.",
    )
    radiation_dose_unit = models.CharField(
        "Unit of the radiation dose", max_length=10, choices=RadiationDoseUnit.choices, blank=True
    )
    neuromonitoring_type = models.CharField(
        "Neuromonitoring / neuromodulation", max_length=8, choices=NeuromonitoringType.choices, blank=True
    )
    cement_fill = models.CharField(
        "Cement fill of the ablation zone",
        max_length=8,
        choices=CementFill.choices,
        blank=True,
        help_text="Cement tends to fill less completely after cryoablation.",
    )
    history = HistoricalRecords()

    class Meta:
        ordering = ["patient_id", "procedure_date"]
        constraints = [
            models.UniqueConstraint(
                fields=["patient"], condition=Q(is_index=True, voided_at__isnull=True), name="procedure_one_index_per_patient"
            ),
            models.CheckConstraint(condition=Q(probes__gte=1), name="procedure_probes_positive"),
            models.CheckConstraint(
                condition=Q(augmentation="cement") | (Q(cement_technique="") & Q(cement_volume_ml__isnull=True)),
                name="procedure_cement_fields_only_with_cement",
            ),
            models.CheckConstraint(
                condition=Q(augmentation="implant") | Q(implant_type=""), name="procedure_implant_type_only_with_implant"
            ),
            models.CheckConstraint(
                condition=Q(cement_volume_ml__isnull=True) | Q(cement_volume_ml__gt=0), name="procedure_cement_volume_positive"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.patient_id} {self.modality} {self.procedure_date}"


class RadiationSequence(models.TextChoices):
    BEFORE = "before", "Before the index ablation"
    AFTER = "after", "After the index ablation"


class RadiationTechnique(models.TextChoices):
    CONVENTIONAL = "conventional", "Conventional EBRT"
    CRT3D = "3dcrt", "3D-CRT"
    IMRT = "imrt", "IMRT"
    SBRT = "sbrt", "SBRT"


class RadiationCourse(RepeatingRecord):
    """The protocol's planned radiation course of the index lesion (docs/domain.md §9).

    Radiation in this course is planned treatment, never an SRE (docs/domain.md §6).
    """

    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="radiation_courses")
    sequence = models.CharField(max_length=8, choices=RadiationSequence.choices)
    start_date = models.DateField()
    end_date = models.DateField()
    total_dose_gy = models.DecimalField(max_digits=5, decimal_places=2)
    fractions = models.PositiveSmallIntegerField()
    technique = models.CharField(max_length=16, choices=RadiationTechnique.choices)
    alpha_beta_gy = models.DecimalField(max_digits=4, decimal_places=1, default=radiation.DEFAULT_ALPHA_BETA_GY)
    history = HistoricalRecords()

    class Meta:
        ordering = ["patient_id", "start_date"]
        constraints = [
            models.CheckConstraint(condition=Q(end_date__gte=F("start_date")), name="radiation_end_after_start"),
            models.CheckConstraint(condition=Q(total_dose_gy__gt=0), name="radiation_dose_positive"),
            models.CheckConstraint(condition=Q(fractions__gte=1), name="radiation_fractions_positive"),
            models.CheckConstraint(condition=Q(alpha_beta_gy__gt=0), name="radiation_alpha_beta_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.patient_id} {self.total_dose_gy} Gy/{self.fractions}"

    @property
    def bed_gy(self) -> float:
        return radiation.bed(
            total_dose_gy=float(self.total_dose_gy), fractions=self.fractions, alpha_beta=float(self.alpha_beta_gy)
        )

    @property
    def eqd2_gy(self) -> float:
        return radiation.eqd2(
            total_dose_gy=float(self.total_dose_gy), fractions=self.fractions, alpha_beta=float(self.alpha_beta_gy)
        )

    @property
    def interval_days(self) -> int:
        """Days from the index procedure (day 0) to the start of radiation; negative = before."""
        return (self.start_date - self.patient.day0).days
