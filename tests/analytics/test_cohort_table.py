"""Table 1 (analytics.cohort): counts and percentages by hand on a four-patient registry."""

from __future__ import annotations

from types import SimpleNamespace

import pandas as pd

from analytics.cohort import cohort_table


def _sets() -> SimpleNamespace:
    histology = pd.Categorical(["breast", "lung", "breast", "breast"], categories=["breast", "lung", "renal"])
    patients = pd.DataFrame(
        {
            "study_id": ["P1", "P2", "P3", "P4"],
            "age": [60.0, 70.0, 50.0, 80.0],
            "sex": ["F", "M", "F", "F"],
            "ecog": [0, 2, 1, 1],
            "region": pd.Categorical(["spine", "pelvis", "spine", None]),
            "augmentation": ["pmma", "none", "none", "none"],
            "radiation_sequence": ["none", "before", "none", "after"],
            "histology": histology,
            "modality": pd.Categorical(["rfa", "cryo", "rfa", "rfa"]),
        }
    )
    pain = pd.DataFrame(
        {"study_id": ["P1", "P2", "P3", "P4"], "visit": "baseline", "worst": [8, 6, 7, 5], "omed": [0.0, 30.0, 60.0, 0.0]}
    )
    return SimpleNamespace(patients=patients, pain=pain)


def test_table_one_counts_each_present_level_of_each_column():
    """Issue 17 (report CPU) counts the levels in one pass per variable: the same n (%) as one comparison per level,
    a categorical's unused category ("renal") is no row, a level absent from a stratum reads 0 (0%)."""
    table = cohort_table(_sets(), ("modality",))
    assert list(table.columns) == ["all", "modality=cryo", "modality=rfa"]
    assert table.loc["Patients, n"].tolist() == ["4", "1", "3"]
    assert table.loc["Histology: breast, n (%)"].tolist() == ["3 (75%)", "0 (0%)", "3 (100%)"]
    assert table.loc["Histology: lung, n (%)"].tolist() == ["1 (25%)", "1 (100%)", "0 (0%)"]
    assert not any("renal" in row for row in table.index)
    assert table.loc["Region: spine, n (%)", "all"] == "2 (50%)"  # the patient without a region counts in n only
    assert table.loc["Female, n (%)"].tolist() == ["3 (75%)", "0 (0%)", "3 (100%)"]
    assert table.loc["Opioid-free at baseline, n (%)", "all"] == "2 (50%)"
    assert table.loc["Baseline opioid dose, MME/day, median [IQR]", "all"] == "15.0 [0.0–37.5]"
    assert table.loc["Age, years, mean (SD)", "modality=cryo"] == "70.0"  # one patient: no SD
