"""A pure-pandas simulation with the seed generator (no database): PatientGenerator plans → the covariate frame and
ADTTE that analytics.stats.propensity reads. Used to show that the generator's known, confounded cement effect on
SRE (trials/seeding/profile.py: CEMENT_SRE_HR, SINS_SRE_HR_PER_POINT, CEMENT_LOGIT_PER_SINS_POINT) is recovered by
the weighted Cox model and missed by the unadjusted one.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from trials.domain.age import age_years
from trials.models import Site
from trials.seeding.generator import PatientGenerator

ANCHOR = dt.date(2026, 6, 30)


def _baseline_omed(plan) -> float:
    visit = next(v for v in plan.visits if v.visit_code == "baseline")
    if visit.visit_date is None or visit.opioid_status == "unknown":
        return np.nan
    return float(sum(m.mme_per_day for m in plan.medications if m.visit is visit))


def _row(plan) -> dict:
    patient, lesion, proc = plan.patient, plan.lesion, plan.procedure
    baseline = next((p for p in plan.pains if p.visit.visit_code == "baseline"), None)
    day0 = patient.day0
    died = plan.exit is not None and plan.exit.exit_type == "death"
    end = plan.exit.exit_date if plan.exit is not None else ANCHOR
    sre = min((e.event_date for e in plan.skeletal_events), default=None)
    has_sre = sre is not None and sre <= end
    return {
        "study_id": patient.study_id,
        "age": age_years(patient.birth_year, patient.enrollment_date.year),
        "sex": patient.sex,
        "ecog": patient.ecog,
        "histology": patient.histology,
        "region": lesion.region,
        "sins_total": lesion.sins_total if lesion.region == "spine" else np.nan,
        "radiation_sequence": plan.radiation.sequence if plan.radiation is not None else "none",
        "augmentation": proc.augmentation,
        "modality": proc.modality,
        "intent": proc.intent,
        "worst_pain_baseline": float(baseline.worst) if baseline is not None else np.nan,
        "omed_baseline": _baseline_omed(plan),
        "sre_days": float(((sre if has_sre else end) - day0).days),
        "sre_event": 1 if has_sre else (2 if died else 0),
        "os_days": float((end - day0).days),
        "os_event": int(died),
    }


def simulate(patients: int, *, seed: int = 16) -> pd.DataFrame:
    """One row per treated simulated patient: covariates (as ``covariate_frame`` after its derivations) and ADTTE."""
    generator = PatientGenerator(seed=seed, anchor=ANCHOR)
    site = Site(code="SIM", name="Simulation", country="US")
    rows = []
    for i in range(patients):
        plan = generator.patient(site, f"SIM-{i:05d}")
        if plan.procedure is not None:
            rows.append(_row(plan))
    return pd.DataFrame(rows)
