from __future__ import annotations

from django.db import models
from django.db.models import F, Q
from simple_history.models import HistoricalRecords

from trials.domain import sre
from trials.models.base import ClinicalRecord, RepeatingRecord
from trials.models.patients import Patient


class SIRGrade(models.TextChoices):
    """SIR adverse event classification (Khalilzadeh et al., JVIR 2017;28:1432; docs/domain.md §7)."""

    MILD = "mild", "Mild"
    MODERATE = "moderate", "Moderate"
    SEVERE = "severe", "Severe"
    LIFE_THREATENING = "life_threatening", "Life-threatening or disabling"
    DEATH = "death", "Death"


class Relatedness(models.TextChoices):
    PROCEDURE = "procedure", "Procedure"
    CEMENT_IMPLANT = "cement_implant", "Cement / implant"
    RADIATION = "radiation", "Radiation"
    DISEASE_PROGRESSION = "disease_progression", "Disease progression"
    UNRELATED = "unrelated", "Unrelated"


class AEOutcome(models.TextChoices):
    RECOVERED = "recovered", "Recovered / resolved"
    RECOVERING = "recovering", "Recovering"
    NOT_RECOVERED = "not_recovered", "Not recovered"
    SEQUELAE = "sequelae", "Recovered with sequelae"
    FATAL = "fatal", "Fatal"
    UNKNOWN = "unknown", "Unknown"


class AdverseEvent(RepeatingRecord):
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="adverse_events")
    term = models.CharField(max_length=200, help_text="Event term (e.g. CTCAE term)")
    onset_date = models.DateField()
    sir_grade = models.CharField(max_length=20, choices=SIRGrade.choices)
    ctcae_grade = models.PositiveSmallIntegerField(help_text="CTCAE v5.0 grade 1–5")
    relatedness = models.CharField(max_length=24, choices=Relatedness.choices)
    serious = models.BooleanField(default=False)
    outcome = models.CharField(max_length=16, choices=AEOutcome.choices, default=AEOutcome.UNKNOWN)
    resolution_date = models.DateField(null=True, blank=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["patient_id", "onset_date"]
        constraints = [
            models.CheckConstraint(condition=Q(ctcae_grade__gte=1, ctcae_grade__lte=5), name="ae_ctcae_1_5"),
            models.CheckConstraint(
                condition=Q(resolution_date__isnull=True) | Q(resolution_date__gte=F("onset_date")),
                name="ae_resolution_after_onset",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.patient_id} AE {self.term}"


class SREType(models.TextChoices):
    """Skeletal-related events (docs/domain.md §6)."""

    PATHOLOGIC_FRACTURE = "pathologic_fracture", "Pathologic fracture (incl. new vertebral compression fracture)"
    SPINAL_CORD_COMPRESSION = "spinal_cord_compression", "Spinal cord compression"
    RADIATION_TO_BONE = sre.RADIATION_TO_BONE, "Radiation to bone (unplanned)"
    SURGERY_TO_BONE = "surgery_to_bone", "Surgery to bone"
    HYPERCALCAEMIA = sre.HYPERCALCAEMIA, "Hypercalcaemia of malignancy"


class SkeletalEvent(RepeatingRecord):
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="skeletal_events")
    event_type = models.CharField(max_length=32, choices=SREType.choices)
    event_date = models.DateField()
    location = models.CharField(max_length=120, blank=True, help_text="Site or bone, e.g. L2, left femur")
    at_index_lesion = models.BooleanField(default=False)
    history = HistoricalRecords()

    class Meta:
        ordering = ["patient_id", "event_date"]

    def __str__(self) -> str:
        return f"{self.patient_id} SRE {self.event_type}"


class ExitType(models.TextChoices):
    DEATH = "death", "Death"
    WITHDRAWAL = "withdrawal", "Withdrawal of consent"
    LOST_TO_FOLLOW_UP = "lost_to_follow_up", "Lost to follow-up"
    COMPLETION = "completion", "Study completion"


class StudyExit(ClinicalRecord):
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="exits")
    exit_type = models.CharField(max_length=24, choices=ExitType.choices)
    exit_date = models.DateField(help_text="Date of death, withdrawal, completion, or when LTFU was declared")
    last_contact_date = models.DateField(help_text="Last date the patient was known alive and on study (censoring date)")
    death_cause = models.CharField(max_length=200, blank=True)
    history = HistoricalRecords()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["patient"], condition=Q(voided_at__isnull=True), name="exit_one_per_patient"),
            models.CheckConstraint(condition=Q(last_contact_date__lte=F("exit_date")), name="exit_last_contact_not_after_exit"),
            models.CheckConstraint(condition=Q(exit_type="death") | Q(death_cause=""), name="exit_cause_only_for_death"),
        ]

    def __str__(self) -> str:
        return f"{self.patient_id} exit {self.exit_type}"
