from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from simple_history.models import HistoricalRecords

from trials.domain import bpi, missing, mme, schedule
from trials.models.base import ClinicalRecord, RepeatingRecord
from trials.models.patients import Patient


class OpioidStatus(models.TextChoices):
    UNKNOWN = mme.OPIOIDS_UNKNOWN, "Not recorded"
    NONE = mme.OPIOIDS_NONE, "No opioids"
    TAKING = mme.OPIOIDS_TAKING, "Taking opioids"


class AnswerSource(models.TextChoices):
    """Who gave a visit's answers (issue 15): site staff on the coordinator's form, or the patient by link."""

    STAFF = "staff", "Staff"
    PATIENT = "patient", "Patient"


def answer_source_field(what: str) -> models.CharField:
    return models.CharField(
        f"Source of the {what}",
        max_length=8,
        choices=AnswerSource.choices,
        default=AnswerSource.STAFF,
        editable=False,
        help_text=f"Who gave the {what}: staff (coordinator's form, import, API) or the patient (questionnaire by link).",
    )


def submitted_at_field(what: str) -> models.DateTimeField:
    return models.DateTimeField(
        f"Patient submission time of the {what}",
        null=True,
        blank=True,
        editable=False,
        help_text=f"When the patient submitted the questionnaire that filled the {what} (UTC); blank when staff-entered.",
    )


class Visit(ClinicalRecord):
    """One scheduled timepoint of a patient (docs/domain.md §2); windows stored at scheduling."""

    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="visits")
    visit_code = models.CharField(max_length=16, choices=schedule.VISIT_CHOICES)
    target_date = models.DateField()
    window_start = models.DateField()
    window_end = models.DateField()
    visit_date = models.DateField(null=True, blank=True, help_text="Date the visit data were collected.")
    out_of_window = models.BooleanField(default=False, help_text="Recorded outside its window (kept, flagged).")
    opioid_status = models.CharField(
        max_length=8,
        choices=OpioidStatus.choices,
        default=OpioidStatus.UNKNOWN,
        help_text="'No opioids' is an explicit answer (OMED 0); 'not recorded' is missing.",
    )
    missing_codes = models.JSONField(
        default=dict,
        blank=True,
        help_text="Why a BPI item is blank: {item: code}, codes NASK, UNK, NA, ASKU (trials.domain.missing). "
        "An item without a value or a code is plain missing data.",
    )
    not_done_reason = models.TextField(
        blank=True, help_text="Filled when the visit did not take place: why (a visit not done is not a missed visit)."
    )
    # Provenance of the opioid answer (status and rows), issue 15: a patient's self-report counts as MME only
    # once a staff member has reviewed it (``opioid_reviewed_at``).
    opioid_source = answer_source_field("opioid answers")
    opioid_submitted_at = submitted_at_field("opioid answers")
    opioid_reviewed_at = models.DateTimeField(
        "Staff review of the patient's opioid answers",
        null=True,
        blank=True,
        editable=False,
        help_text="When staff reviewed the patient-reported opioid answers; until then they do not count as MME in analyses.",
    )
    opioid_reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", null=True, blank=True, editable=False
    )
    history = HistoricalRecords()

    class Meta:
        ordering = ["patient_id", "target_date"]
        constraints = [
            models.UniqueConstraint(fields=["patient", "visit_code"], name="visit_unique_per_patient"),
            models.CheckConstraint(condition=Q(window_end__gte=F("window_start")), name="visit_window_ordered"),
        ]
        indexes = [
            models.Index(fields=["window_start", "window_end"], name="visit_window_idx"),
            # The worklist's candidates: visits still without data (due, overdue, missed are among them), a
            # fraction of all visits; covering what the due/overdue and missed counts read (issue 17 item 6).
            models.Index(
                fields=["window_end", "window_start"],
                include=["id", "patient", "target_date"],
                condition=Q(visit_date__isnull=True, voided_at__isnull=True, not_done_reason=""),
                name="visit_no_data_window_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.patient_id} {self.visit_code}"

    @property
    def definition(self) -> schedule.VisitDefinition:
        return schedule.VISITS_BY_CODE[self.visit_code]

    @property
    def open_from(self) -> dt.date:
        """First day the visit can take place: its window start, but never before consent."""
        return max(self.window_start, self.patient.consent_date)

    @property
    def has_data(self) -> bool:
        return self.visit_date is not None

    @property
    def is_not_done(self) -> bool:
        return bool(self.not_done_reason)

    def missing_code_label(self, item: str) -> str | None:
        code = (self.missing_codes or {}).get(item)
        return None if code is None else f"{code} ({missing.MISSING_CODES.get(code, code)})"

    def status_on(self, on: dt.date, exit_date: dt.date | None = None) -> schedule.VisitStatus:
        return schedule.visit_status(
            self.definition,
            day0=self.patient.day0,
            on=on,
            has_data=self.has_data,
            exit_date=exit_date,
            not_done=self.is_not_done,
        )

    @property
    def opioid_review_pending(self) -> bool:
        """Patient-reported opioid answers not yet reviewed by staff (they do not count as MME yet)."""
        return self.opioid_source == AnswerSource.PATIENT and self.opioid_reviewed_at is None

    def omed(self, medications: list[MedicationUse] | None = None) -> Decimal | None:
        """Total MME/day for the visit (``mme.visit_omed``): 0 for 'no opioids'; the sum of the active
        entries when taking (None if none is recorded); None if not recorded."""
        if self.opioid_status != OpioidStatus.TAKING:
            return mme.visit_omed(self.opioid_status, ())
        meds = medications if medications is not None else [m for m in self.medications.all() if m.voided_at is None]
        return mme.visit_omed(self.opioid_status, (m.mme_per_day for m in meds))


def _score_check(field: str) -> models.CheckConstraint:
    return models.CheckConstraint(
        condition=Q(**{f"{field}__isnull": True}) | Q(**{f"{field}__gte": 0, f"{field}__lte": 10}),
        name=f"pain_{field}_0_10",
    )


class PainAssessment(ClinicalRecord):
    """Brief Pain Inventory short form at a visit (docs/domain.md §3). Items 0–10."""

    visit = models.OneToOneField(Visit, on_delete=models.PROTECT, related_name="pain")
    worst = models.PositiveSmallIntegerField(
        "Worst pain in the last 24 hours", null=True, blank=True, help_text="Worst pain in the last 24 h (0–10)"
    )
    least = models.PositiveSmallIntegerField("Least pain in the last 24 hours", null=True, blank=True)
    average = models.PositiveSmallIntegerField("Average pain", null=True, blank=True)
    current = models.PositiveSmallIntegerField("Pain right now", null=True, blank=True, help_text="Pain right now (0–10)")
    general_activity = models.PositiveSmallIntegerField("General activity", null=True, blank=True)
    mood = models.PositiveSmallIntegerField("Mood", null=True, blank=True)
    walking_ability = models.PositiveSmallIntegerField("Walking ability", null=True, blank=True)
    normal_work = models.PositiveSmallIntegerField("Normal work (inside and outside the home)", null=True, blank=True)
    relations = models.PositiveSmallIntegerField("Relations with other people", null=True, blank=True)
    sleep = models.PositiveSmallIntegerField("Sleep", null=True, blank=True)
    enjoyment_of_life = models.PositiveSmallIntegerField("Enjoyment of life", null=True, blank=True)
    relief_pct = models.PositiveSmallIntegerField(
        "Relief from treatment (%)", null=True, blank=True, help_text="Relief 0–100% in steps of 10"
    )
    source = answer_source_field("BPI answers")
    submitted_at = submitted_at_field("BPI answers")
    history = HistoricalRecords()

    class Meta:
        constraints = (
            *[_score_check(f) for f in bpi.INTENSITY_ITEMS + bpi.INTERFERENCE_ITEMS],
            models.CheckConstraint(condition=Q(relief_pct__isnull=True) | Q(relief_pct__lte=100), name="pain_relief_0_100"),
        )

    def __str__(self) -> str:
        return f"BPI {self.visit}"

    @property
    def interference_score(self) -> float | None:
        return bpi.interference_score(getattr(self, item) for item in bpi.INTERFERENCE_ITEMS)


class MedicationUse(RepeatingRecord):
    """One opioid entry at a visit; MME/day derived with a versioned table (docs/domain.md §5)."""

    repeat_parent = "visit"  # opioid entries are numbered within their visit

    visit = models.ForeignKey(Visit, on_delete=models.PROTECT, related_name="medications")
    drug = models.CharField(max_length=32, choices=mme.DRUG_CHOICES)
    route = models.CharField(max_length=16, choices=mme.ROUTE_CHOICES)
    dose = models.DecimalField(max_digits=8, decimal_places=2, help_text="Dose per administration (mg), or mcg/h for a patch")
    unit = models.CharField(max_length=8, choices=mme.UNIT_CHOICES)
    doses_per_day = models.DecimalField(max_digits=5, decimal_places=2, default=Decimal("1"))
    mme_factor = models.DecimalField(max_digits=6, decimal_places=3, editable=False)
    factor_source = models.CharField(max_length=200, blank=True, help_text="Required with an explicit factor.")
    mme_per_day = models.DecimalField(max_digits=9, decimal_places=2, editable=False)
    mme_table_version = models.CharField(max_length=240, editable=False)
    history = HistoricalRecords()

    class Meta:
        ordering = ["visit_id", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(dose__gt=0), name="medication_dose_positive"),
            models.CheckConstraint(condition=Q(doses_per_day__gt=0), name="medication_doses_per_day_positive"),
            models.CheckConstraint(condition=Q(mme_per_day__gte=0), name="medication_mme_nonnegative"),
        ]

    def __str__(self) -> str:
        return f"{self.drug} {mme.dose_label(self.dose, self.unit, self.doses_per_day)}"
