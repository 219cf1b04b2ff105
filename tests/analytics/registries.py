"""Small registries built through the services (as a coordinator would enter them) for the
analytics tests of degenerate data: each patient is one :class:`PatientSpec`."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from tests.factories import enroll_patient, pelvic_lesion, spine_lesion, visit_data
from trials import services

AUGMENTATION_DATA = {
    "none": {},
    "cement": {"cement_technique": "vertebroplasty", "cement_volume_ml": Decimal("3.5"), "cement_leakage": False},
    "implant": {"implant_type": "intramedullary nail"},
}


@dataclass(frozen=True)
class PatientSpec:
    """One patient, times in days from day 0.

    ``exit``: None (still on study), "death", "withdrawal", "lost_to_follow_up" or "completion", on
    ``exit_day``. ``sre_day``: first pathologic fracture. ``month1_worst``: a month-1 visit (day 30,
    no opioids) with that worst pain, and a baseline visit with worst pain 8.
    """

    modality: str = "RFA"
    augmentation: str = "none"
    region: str = "spine"
    treated: bool = True
    sre_day: int | None = None
    exit: str | None = None
    exit_day: int | None = None
    month1_worst: int | None = None
    ae_ctcae: int | None = None
    intent: str | None = None  # procedure intent (issue 10 part B); the form's default when None


def _date(patient, days: int) -> dt.date:
    return patient.day0 + dt.timedelta(days=days)


def patient_build(actor, site, spec: PatientSpec, *, day0: dt.date):
    lesion = spine_lesion() if spec.region == "spine" else pelvic_lesion()
    enrollment = day0 - dt.timedelta(days=5)
    patient = enroll_patient(actor, site, with_procedure=False, lesion=lesion, enrollment_date=enrollment, day0=day0)
    if not spec.treated:
        return patient
    services.procedure_record(
        actor=actor,
        patient=patient,
        data={
            "procedure_date": day0,
            "modality": spec.modality,
            "augmentation": spec.augmentation,
            **AUGMENTATION_DATA[spec.augmentation],
            **({"intent": spec.intent} if spec.intent else {}),
        },
    )
    patient.refresh_from_db()
    if spec.month1_worst is not None:
        visits = {v.visit_code: v for v in patient.visits.all()}
        services.visit_record(actor=actor, visit=visits["baseline"], data=visit_data(day0, worst=8))
        services.visit_record(actor=actor, visit=visits["month1"], data=visit_data(_date(patient, 30), worst=spec.month1_worst))
    if spec.ae_ctcae is not None:
        services.adverse_event_report(
            actor=actor,
            patient=patient,
            data={
                "term": "Hematoma",
                "onset_date": _date(patient, 1),
                "sir_grade": "death" if spec.ae_ctcae == 5 else "moderate",
                "ctcae_grade": spec.ae_ctcae,
                "relatedness": "procedure",
                "serious": spec.ae_ctcae >= 3,
            },
        )
    if spec.sre_day is not None:
        services.skeletal_event_report(
            actor=actor, patient=patient, data={"event_type": "pathologic_fracture", "event_date": _date(patient, spec.sre_day)}
        )
    if spec.exit is not None:
        services.study_exit_record(
            actor=actor,
            patient=patient,
            data={
                "exit_type": spec.exit,
                "exit_date": _date(patient, spec.exit_day),
                "last_contact_date": _date(patient, spec.exit_day),
                **({"death_cause": "Progression"} if spec.exit == "death" else {}),
            },
        )
    return patient


def registry_build(actor, site, specs: list[PatientSpec], *, today: dt.date, follow_up_days: int = 800) -> list:
    """Enroll every spec with day 0 = ``today`` − ``follow_up_days``; returns the patients."""
    day0 = today - dt.timedelta(days=follow_up_days)
    return [patient_build(actor, site, spec, day0=day0) for spec in specs]
