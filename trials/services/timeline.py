"""Cross-record date rules shared by the clinical services."""

from __future__ import annotations

import datetime as dt

from trials.errors import ErrorCollector
from trials.models import ExitType, Patient, StudyExit


def active_exit(patient: Patient) -> StudyExit | None:
    return StudyExit.objects.active().filter(patient_id=patient.pk).first()


def check_event_date(patient: Patient, field: str, value: dt.date | None, errors: ErrorCollector, *, today: dt.date) -> None:
    """Event dates: not before day 0, not after death, not in the future."""
    if value is None:
        return
    errors.check(value >= patient.day0, field, f"Must not be before day 0 (the index procedure, {patient.day0}).")
    errors.check(value <= today, field, "Cannot be in the future.")
    exit_ = active_exit(patient)
    if exit_ is not None and exit_.exit_type == ExitType.DEATH:
        errors.check(value <= exit_.exit_date, field, f"Must not be after the patient's death ({exit_.exit_date}).")
