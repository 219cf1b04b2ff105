"""A frozen hand-made cohort for the repeated-measures model (issue 16): 24 patients, two modalities,
five follow-up visits, unbalanced (missing visits, a death truncating follow-up), a real between-patient
effect — the numbers come from a fixed generator, so R and Python read the same rows."""

from __future__ import annotations

import numpy as np
import pandas as pd

VISITS = ("day3", "week1", "month1", "month3", "month6")


def mixed_pain_frame() -> pd.DataFrame:
    """Long pain frame (study_id, visit incl. baseline, worst, interference, omed, modality)."""
    rng = np.random.default_rng(20261130)
    rows = []
    for i in range(24):
        modality = ("RFA", "cryoablation")[i % 2]
        baseline = int(rng.integers(5, 11))
        patient = rng.normal(0, 1.2)
        omed0 = float(rng.choice([0, 15, 30, 60, 90]))
        rows.append((f"P{i:02d}", "baseline", baseline, round(baseline * 0.7, 2), omed0, modality))
        for j, visit in enumerate(VISITS, start=1):
            if rng.random() < 0.18:  # missed visit
                continue
            drop = 1.0 + 0.45 * j + (0.8 if modality == "RFA" else 0.0) + 0.2 * (baseline - 7)
            worst = int(np.clip(round(baseline - drop + patient + rng.normal(0, 1.0)), 0, 10))
            interference = float(np.clip(round(worst * 0.8 + rng.normal(0, 0.7), 2), 0, 10))
            omed = float(max(0.0, omed0 - 5 * j + round(rng.normal(0, 8), 1)))
            rows.append((f"P{i:02d}", visit, worst, interference, omed, modality))
    return pd.DataFrame(rows, columns=["study_id", "visit", "worst", "interference", "omed", "modality"])


def mixed_adtte_frame() -> pd.DataFrame:
    """Patients P03 and P10 die on day 60: their month-3 and month-6 records must be excluded."""
    ids = [f"P{i:02d}" for i in range(24)]
    return pd.DataFrame(
        {
            "study_id": ids,
            "os_days": [60.0 if pid in ("P03", "P10") else 400.0 for pid in ids],
            "os_event": [1 if pid in ("P03", "P10") else 0 for pid in ids],
        }
    )
