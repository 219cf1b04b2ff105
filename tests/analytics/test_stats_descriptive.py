"""Per-visit pain and OMED summaries, checked against hand arithmetic.

t quantiles are R's: qt(0.975, 3) = 3.18244630528371, qt(0.975, 2) = 4.30265272974946.
Quartiles are the linear (R type 7) definition: position (n − 1)·q in the sorted values.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from analytics.stats import omed_visit_summaries, pain_visit_summaries

T_975_DF3 = 3.18244630528371
T_975_DF2 = 4.30265272974946

NAN = np.nan
#            id     visit       worst average interference omed   modality
ROWS = [
    ("P1", "baseline", 8, 7, 6.0, 30, "RFA"),
    ("P2", "baseline", 7, 6, 5.0, 0, "RFA"),
    ("P3", "baseline", 9, 8, 7.0, 60, "cryo"),
    ("P4", "baseline", 6, 5, 4.0, NAN, "cryo"),
    ("P1", "month1", 4, 3, 2.0, 15, "RFA"),
    ("P2", "month1", 5, 4, 3.0, 0, "RFA"),
    ("P3", "month1", NAN, NAN, NAN, 90, "cryo"),
    ("P4", "month1", 5, 4, 3.0, 0, "cryo"),
    ("P5", "month1", 6, 5, 4.0, NAN, "cryo"),  # no baseline row: unpaired
    ("P1", "week1", 6, 5, 4.0, 30, "RFA"),
]
PAIN = pd.DataFrame(ROWS, columns=["study_id", "visit", "worst", "average", "interference", "omed", "modality"])


def _get(results, stratum="all", variable="worst", visit="month1"):
    return next(r for r in results if r.stratum == stratum and getattr(r, "variable", variable) == variable and r.visit == visit)


def test_worst_pain_at_month1_by_hand():
    s = _get(pain_visit_summaries(PAIN, strata_variables=[]))
    # values 4, 5, 5, 6 (P3 missing): mean 5, SS = 1 + 0 + 0 + 1 = 2, SD = √(2/3)
    assert s.n == 4
    assert s.mean == pytest.approx(5.0, abs=1e-12)
    assert s.sd == pytest.approx(math.sqrt(2 / 3), abs=1e-12)
    assert (s.median, s.q1, s.q3) == pytest.approx((5.0, 4.75, 5.25))  # q1: 4 + 0.75·1; q3: 5 + 0.25·1
    half = T_975_DF3 * math.sqrt(2 / 3) / 2
    assert (s.ci_low, s.ci_high) == pytest.approx((5 - half, 5 + half), abs=1e-9)


def test_change_from_baseline_is_paired():
    s = _get(pain_visit_summaries(PAIN, strata_variables=[]))
    # pairs: P1 8→4 (−4), P2 7→5 (−2), P4 6→5 (−1); P3 has no month-1 value, P5 no baseline
    c = s.change
    assert c.n_paired == 3
    assert c.mean == pytest.approx(-7 / 3, abs=1e-12)
    assert c.median == -2.0
    sd = math.sqrt(((-4 + 7 / 3) ** 2 + (-2 + 7 / 3) ** 2 + (-1 + 7 / 3) ** 2) / 2)  # = √(7/3)
    half = T_975_DF2 * sd / math.sqrt(3)
    assert (c.ci_low, c.ci_high) == pytest.approx((-7 / 3 - half, -7 / 3 + half), abs=1e-9)
    # ≥ 2-point improvement: −4 and exactly −2 count, −1 does not
    assert (s.improved_2_points.n, s.improved_2_points.denominator) == (2, 3)
    assert s.improved_2_points.proportion == pytest.approx(2 / 3)


def test_baseline_has_no_change_and_other_variables_no_improvement_share():
    results = pain_visit_summaries(PAIN, strata_variables=[])
    base = _get(results, visit="baseline")
    assert base.change is None and base.improved_2_points is None
    assert base.n == 4 and base.mean == pytest.approx(7.5)
    average = _get(results, variable="average")
    assert average.improved_2_points is None
    assert average.change.mean == pytest.approx(((3 - 7) + (4 - 6) + (4 - 5)) / 3)
    interference = _get(results, variable="interference")
    assert interference.n == 4 and interference.mean == pytest.approx(3.0)


def test_single_value_has_no_sd_or_ci():
    week1 = _get(pain_visit_summaries(PAIN, strata_variables=[]), visit="week1")
    assert week1.n == 1 and week1.mean == 6.0 and week1.median == 6.0
    assert week1.sd is None and week1.ci_low is None and week1.ci_high is None
    assert week1.change.n_paired == 1 and week1.change.mean == -2.0 and week1.change.ci_low is None


def test_visits_in_schedule_order_and_strata():
    results = pain_visit_summaries(PAIN, strata_variables=["modality"])
    all_worst = [r.visit for r in results if r.stratum == "all" and r.variable == "worst"]
    assert all_worst == ["baseline", "week1", "month1"]
    cryo = _get(results, stratum="modality=cryo")
    assert cryo.n == 2 and cryo.mean == pytest.approx(5.5)  # P4 5, P5 6
    assert cryo.change.n_paired == 1 and cryo.change.mean == -1.0  # P4 only
    assert {r.stratum for r in results} == {"all", "modality=RFA", "modality=cryo"}


def test_empty_visit_values_give_none():
    frame = PAIN.copy()
    frame.loc[frame["visit"] == "week1", "worst"] = NAN
    week1 = _get(pain_visit_summaries(frame, strata_variables=[]), visit="week1")
    assert week1.n == 0 and week1.mean is None and week1.median is None
    assert week1.to_dict()["q1"] is None


def test_omed_summary_by_hand():
    results = omed_visit_summaries(PAIN, strata_variables=[])
    m1 = next(r for r in results if r.visit == "month1")
    # non-missing month-1 OMED: 15, 0, 90, 0 (P5 missing)
    assert m1.n == 4
    assert (m1.median, m1.q1, m1.q3) == pytest.approx((7.5, 0.0, 33.75))  # q3: 15 + 0.25·75
    assert m1.mean == pytest.approx(26.25)
    assert (m1.opioid_free.n, m1.opioid_free.denominator, m1.opioid_free.proportion) == (2, 4, 0.5)
    # pairs: P1 30→15 (−15), P2 0→0 (0), P3 60→90 (+30); P4 baseline missing
    assert m1.change.n_paired == 3
    assert m1.change.median == 0.0
    assert m1.change.mean == pytest.approx(5.0)
    base = next(r for r in results if r.visit == "baseline")
    assert base.change is None
    assert (base.opioid_free.n, base.opioid_free.denominator) == (1, 3)  # a missing OMED is not 0


def test_duplicate_rows_and_missing_columns_raise():
    with pytest.raises(ValueError, match="more than one row"):
        pain_visit_summaries(pd.concat([PAIN, PAIN.iloc[[0]]]))
    with pytest.raises(ValueError, match="interference"):
        pain_visit_summaries(PAIN.drop(columns=["interference"]))
