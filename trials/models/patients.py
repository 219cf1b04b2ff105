from __future__ import annotations

from django.db import models
from django.db.models import F, Q
from simple_history.models import HistoricalRecords

from trials.domain import sins
from trials.domain.age import age_years
from trials.models.base import ClinicalRecord, RepeatingRecord
from trials.models.sites import Site


class Sex(models.TextChoices):
    FEMALE = "F", "Female"
    MALE = "M", "Male"
    OTHER = "X", "Other / not stated"


class Histology(models.TextChoices):
    BREAST = "breast", "Breast"
    LUNG = "lung", "Lung"
    PROSTATE = "prostate", "Prostate"
    RENAL = "renal", "Renal cell"
    THYROID = "thyroid", "Thyroid"
    MYELOMA = "myeloma", "Myeloma / plasmacytoma"
    COLORECTAL = "colorectal", "Colorectal"
    MELANOMA = "melanoma", "Melanoma"
    HEPATOCELLULAR = "hepatocellular", "Hepatocellular"
    SARCOMA = "sarcoma", "Sarcoma"
    OTHER = "other", "Other"


class Patient(ClinicalRecord):
    """An enrolled patient. No names, MRNs or full birth dates (docs/domain.md §10)."""

    study_id = models.CharField(max_length=16, unique=True, editable=False, help_text="<SITE>-<4 digits>, generated.")
    site = models.ForeignKey(Site, on_delete=models.PROTECT, related_name="patients")
    birth_year = models.PositiveSmallIntegerField()
    sex = models.CharField(max_length=1, choices=Sex.choices)
    histology = models.CharField(max_length=32, choices=Histology.choices, help_text="Primary tumour histology")
    ecog = models.PositiveSmallIntegerField(help_text="ECOG performance status at baseline, 0–5 (Oken 1982)")
    consent_date = models.DateField()
    enrollment_date = models.DateField()
    day0 = models.DateField(help_text="Index procedure date (planned at enrollment); day 0 of the visit schedule.")
    screening_worst_pain = models.PositiveSmallIntegerField(help_text="BPI worst pain (24 h recall) at screening, 0–10")
    life_expectancy_over_3_months = models.BooleanField(default=True)
    prior_treatment_of_index_lesion = models.BooleanField(
        default=False, help_text="Prior radiation or ablation of the index lesion (an exclusion)."
    )
    # Baseline neurological status (issue 10, part B): signs of impending cord or nerve injury contraindicate ablation.
    new_bowel_bladder_dysfunction = models.BooleanField("New bowel or bladder dysfunction", default=False)
    new_motor_weakness = models.BooleanField("New motor weakness", default=False)
    foot_drop = models.BooleanField("Foot drop", default=False, help_text="Sacral levels.")
    frankel_grade = models.CharField(
        "Frankel / ASIA impairment grade",
        max_length=1,
        blank=True,
        choices=[
            ("A", "A: complete"),
            ("B", "B: sensory only"),
            ("C", "C: motor useless"),
            ("D", "D: motor useful"),
            ("E", "E: normal"),
        ],
        help_text="E = normal motor and sensory function; blank = not assessed.",
    )
    protocol_deviation = models.TextField(
        blank=True, help_text="Recorded by a data manager when an ineligible patient is enrolled."
    )
    source_record_id = models.CharField(
        max_length=100,
        blank=True,
        editable=False,
        db_index=True,
        help_text="Record ID in the system the patient was imported from (REDCap); a re-import matches on it (issue 13).",
    )
    history = HistoricalRecords()

    class Meta:
        ordering = ["study_id"]
        constraints = [
            models.CheckConstraint(condition=Q(ecog__lte=5), name="patient_ecog_0_5"),
            models.CheckConstraint(condition=Q(screening_worst_pain__lte=10), name="patient_screening_pain_0_10"),
            models.CheckConstraint(condition=Q(birth_year__gte=1900), name="patient_birth_year_plausible"),
            models.CheckConstraint(condition=Q(consent_date__lte=F("enrollment_date")), name="patient_consent_before_enrollment"),
        ]

    def __str__(self) -> str:
        return self.study_id

    @property
    def age(self) -> int:
        """Age in whole years at enrollment (registry convention, docs/domain.md §10)."""
        return age_years(self.birth_year, self.enrollment_date.year)


class Region(models.TextChoices):
    SPINE = "spine", "Spine"
    PELVIS = "pelvis", "Pelvis"
    PERIPHERAL = "peripheral", "Peripheral (appendicular)"


class Bone(models.TextChoices):
    ILIUM = "ilium", "Ilium"
    ACETABULUM = "acetabulum", "Acetabulum"
    ISCHIUM = "ischium", "Ischium"
    PUBIS = "pubis", "Pubis"
    SACRUM = "sacrum", "Sacrum (non-vertebral)"
    FEMUR = "femur", "Femur"
    HUMERUS = "humerus", "Humerus"
    TIBIA = "tibia", "Tibia"
    RADIUS = "radius", "Radius"
    ULNA = "ulna", "Ulna"
    RIB = "rib", "Rib"
    SCAPULA = "scapula", "Scapula"
    CLAVICLE = "clavicle", "Clavicle"
    STERNUM = "sternum", "Sternum"
    OTHER = "other", "Other"


PELVIC_BONES = {Bone.ILIUM, Bone.ACETABULUM, Bone.ISCHIUM, Bone.PUBIS, Bone.SACRUM}


class BilskyGrade(models.TextChoices):
    G0 = "0", "0"
    G1A = "1a", "1a"
    G1B = "1b", "1b"
    G1C = "1c", "1c"
    G2 = "2", "2"
    G3 = "3", "3"


class Lesion(RepeatingRecord):
    """A treated lesion; SINS total is derived from its components (docs/domain.md §8)."""

    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="lesions")
    is_index = models.BooleanField(default=True)
    region = models.CharField(max_length=16, choices=Region.choices)
    spine_level = models.CharField(max_length=3, choices=sins.SPINE_LEVEL_CHOICES, blank=True)
    bone = models.CharField(max_length=16, choices=Bone.choices, blank=True)
    laterality = models.CharField(
        max_length=8, choices=[("left", "Left"), ("right", "Right"), ("midline", "Midline")], blank=True
    )
    size_mm = models.PositiveIntegerField(null=True, blank=True, help_text="Largest diameter, mm")
    lesion_type = models.CharField(max_length=8, choices=sins.BONE_LESION_CHOICES, help_text="Lytic / mixed / blastic")
    mechanical_or_functional_pain = models.BooleanField(default=False)
    # SINS components (spine only); location derives from spine_level.
    sins_pain = models.CharField(max_length=16, choices=sins.PAIN_CHOICES, blank=True)
    sins_alignment = models.CharField(max_length=16, choices=sins.ALIGNMENT_CHOICES, blank=True)
    sins_collapse = models.CharField(max_length=24, choices=sins.COLLAPSE_CHOICES, blank=True)
    sins_posterolateral = models.CharField(max_length=16, choices=sins.POSTEROLATERAL_CHOICES, blank=True)
    bilsky_grade = models.CharField(max_length=2, choices=BilskyGrade.choices, blank=True)
    posterior_wall_involved = models.BooleanField(null=True, blank=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["patient_id", "-is_index", "id"]
        constraints = [
            models.CheckConstraint(
                condition=(Q(region="spine") & ~Q(spine_level="")) | (~Q(region="spine") & Q(spine_level="") & ~Q(bone="")),
                name="lesion_level_or_bone_by_region",
            ),
            models.UniqueConstraint(
                fields=["patient"], condition=Q(is_index=True, voided_at__isnull=True), name="lesion_one_index_per_patient"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.patient_id}: {self.spine_level or self.bone}"

    @property
    def sins_components_complete(self) -> bool:
        return self.region == Region.SPINE and all(
            (
                self.spine_level,
                self.sins_pain,
                self.sins_alignment,
                self.sins_collapse,
                self.sins_posterolateral,
                self.lesion_type,
            )
        )

    @property
    def sins_total(self) -> int | None:
        if not self.sins_components_complete:
            return None
        return sins.sins_total(
            level=self.spine_level,
            pain=self.sins_pain,
            bone_lesion=self.lesion_type,
            alignment=self.sins_alignment,
            collapse=self.sins_collapse,
            posterolateral=self.sins_posterolateral,
        )

    @property
    def sins_category(self) -> str | None:
        total = self.sins_total
        return None if total is None else sins.sins_category(total)
