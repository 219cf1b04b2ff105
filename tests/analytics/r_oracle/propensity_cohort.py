"""A hand-made 240-patient cohort for the propensity-weighted comparison (issue 16) and its R oracle.

Built from numpy seed 20261130: cement is more likely for spine lesions with a higher SINS, in ECOG 0–1 and with
more baseline pain; event times are whole days (ties of SREs, deaths and censorings, as in the registry); a few
covariates are missing (complete-case rule) and "X" sex has too few patients (pooled). The R oracle
(``propensity.R``) refits the same design with ``glm`` and the same weights with ``coxph`` / ``survfit``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

SEED = 20261130
N = 240


def cohort() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(covariates, adtte, adresp) with the columns analytics.stats.propensity reads."""
    rng = np.random.default_rng(SEED)
    region = rng.choice(["spine", "pelvis", "peripheral"], N, p=[0.5, 0.3, 0.2])
    sins = np.where(region == "spine", rng.integers(7, 15, N), 0).astype(float)
    ecog = rng.choice([0, 1, 2], N, p=[0.3, 0.45, 0.25]).astype(float)
    pain = rng.integers(5, 11, N).astype(float)
    logit = -0.3 + 0.35 * (sins - 9) * (region == "spine") - 0.4 * (ecog - 1) + 0.2 * (pain - 8) + 0.5 * (region == "pelvis")
    cement = rng.random(N) < 1 / (1 + np.exp(-logit))
    covariates = pd.DataFrame(
        {
            "study_id": [f"H{i:03d}" for i in range(N)],
            "augmentation": np.where(cement, "cement", "none"),
            "modality": rng.choice(["RFA", "MWA", "cryo"], N, p=[0.6, 0.2, 0.2]),
            "radiation_sequence": rng.choice(["before", "after", "none"], N, p=[0.3, 0.5, 0.2]),
            "region": region,
            "sex": np.where(np.arange(N) % 61 == 0, "X", rng.choice(["F", "M"], N)),
            "intent": rng.choice(["palliative", "local_control"], N, p=[0.8, 0.2]),
            "age": np.round(rng.normal(63, 10, N)),
            "ecog": ecog,
            "histology_group": rng.choice(["breast", "lung", "prostate", "renal", "myeloma", "other"], N),
            "sins_spine": sins,
            "worst_pain_baseline": pain,
            "omed_baseline": np.round(rng.gamma(1.5, 30, N) * (rng.random(N) < 0.75), 1),
        }
    )
    covariates.loc[[5, 17, 101], "omed_baseline"] = np.nan
    covariates.loc[[33], "worst_pain_baseline"] = np.nan
    hazard = 0.004 * np.exp(np.log(0.5) * cement + 0.2 * (sins - 9) * (region == "spine"))
    sre = np.ceil(rng.exponential(1 / hazard))
    death = np.ceil(rng.exponential(1 / 0.002, N))
    censor = rng.integers(30, 400, N).astype(float)
    end = np.minimum(death, censor)
    has_sre = sre <= end
    adtte = pd.DataFrame(
        {
            "study_id": covariates["study_id"],
            "sre_days": np.where(has_sre, sre, end),
            "sre_event": np.where(has_sre, 1, np.where(death <= censor, 2, 0)),
            "os_days": end,
            "os_event": (death <= censor).astype(int),
        }
    )
    visits = ("day3", "month1")
    responses = rng.choice(["CR", "PR", "PD", "indeterminate", "not_evaluable"], (N, 2), p=[0.2, 0.4, 0.15, 0.15, 0.1])
    adresp = pd.DataFrame(
        [(sid, visit, responses[i, j]) for i, sid in enumerate(covariates["study_id"]) for j, visit in enumerate(visits)],
        columns=["study_id", "visit", "response"],
    )
    return covariates, adtte, adresp
