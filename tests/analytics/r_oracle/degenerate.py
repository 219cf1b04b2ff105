"""Small deterministic ADTTE cohorts for the degenerate cases of issue 12.

- :func:`aliased_frame`: 60 patients where augmentation is "implant" exactly
  when region is "peripheral" (24 patients), so region=spine is a linear
  combination of the other dummy columns and R ``coxph`` reports it as NA.
  Reference levels by the registry rule: implant (24) and peripheral (24).
- :func:`separation_frame`: 19 patients, overall-survival deaths RFA 5/8,
  cryo 3/6, MWA 0/5 — the MWA hazard ratio runs to 0 (separation).

Times come from a fixed formula (no random generator), so the rows are the
same on every machine; R's numbers for them are printed by ``oracle.R``'s
degenerate section and checked in test_stats_r_oracle.py.
"""

from __future__ import annotations

import pandas as pd

from .cohort import COLUMNS

# (augmentation, region, count): implant ⇔ peripheral.
ALIASED_GROUPS = (
    ("implant", "peripheral", 24),
    ("cement", "pelvis", 9),
    ("cement", "spine", 9),
    ("none", "pelvis", 9),
    ("none", "spine", 9),
)
# Per-group time scale (days): cement and none fail sooner than implant; pelvis later than spine.
SCALE = {
    ("implant", "peripheral"): 400,
    ("cement", "pelvis"): 200,
    ("cement", "spine"): 160,
    ("none", "pelvis"): 260,
    ("none", "spine"): 210,
}


def _row(i: int, modality: str, augmentation: str, region: str, days: int, died: bool) -> tuple:
    study_id = f"A{i:02d}"
    return (study_id, f"S{i % 3 + 1}", modality, augmentation, "after", region, days, 2 if died else 0, days, int(died))


def aliased_frame() -> pd.DataFrame:
    """60 patients, OS and SRE (deaths compete; no SRE) with implant ⇔ peripheral."""
    rows = []
    i = 0
    for augmentation, region, count in ALIASED_GROUPS:
        for k in range(count):
            i += 1
            # spread over (0.1 … 2.1) × scale; every third patient censored.
            days = int(SCALE[(augmentation, region)] * (0.1 + 2.0 * ((k * 37 + i * 11) % count) / count)) + 1
            died = (k + i) % 3 != 0
            rows.append(_row(i, ("RFA", "cryo", "MWA")[i % 3], augmentation, region, days, died))
    return pd.DataFrame(rows, columns=list(COLUMNS))


# (patients with ≥ 1 complication, patients) pairs for the exact-CI check against R binom.test.
BINOMIAL_PAIRS = ((0, 5), (1, 5), (3, 5), (5, 5), (0, 1), (1, 1), (2, 3), (7, 19), (12, 120), (119, 120))


# (modality, deaths, patients)
SEPARATION_GROUPS = (("RFA", 5, 8), ("cryo", 3, 6), ("MWA", 0, 5))


def separation_frame() -> pd.DataFrame:
    """19 patients: OS deaths RFA 5/8, cryo 3/6, MWA 0/5."""
    rows = []
    i = 0
    for modality, deaths, count in SEPARATION_GROUPS:
        for k in range(count):
            i += 1
            days = 20 + 23 * ((i * 7) % 19)
            rows.append(_row(i, modality, ("none", "cement")[i % 2], ("spine", "pelvis")[i % 2], days, k < deaths))
    return pd.DataFrame(rows, columns=list(COLUMNS))


def gray_frame() -> pd.DataFrame:
    """60 patients in three modality groups with no two SREs on one day (fixed formula): the case where
    Gray's test reproduces cmprsk::cuminc to rounding. Status: 1 SRE, 2 death without SRE, 0 censored."""
    rows = []
    for i in range(60):
        modality = ("MWA", "RFA", "cryo")[i % 3]
        days = 5 + (i * 37) % 311 + (i % 3) * 0.5 + i / 1000  # distinct days
        status = (1, 2, 0, 1, 2)[(i * 7 + i // 3) % 5] if modality != "cryo" else (1, 1, 2, 0)[(i * 5) % 4]
        rows.append((f"G{i:02d}", "S1", modality, "none", "after", "spine", days, status, days, int(status == 2)))
    return pd.DataFrame(rows, columns=list(COLUMNS))
