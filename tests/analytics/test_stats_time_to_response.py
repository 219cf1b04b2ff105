"""Time to first pain response (death competing) and durability (issue 16 item 3)."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from analytics.compute import time_to_response_section
from analytics.stats.time_to_response import (
    NO_PATIENTS,
    NO_RESPONDERS,
    response_time_status,
    time_to_response,
)

# Baseline worst pain 8, no opioid at baseline or at any visit (OMED 0), so the visit's worst pain
# alone sets the class (docs/domain.md §4): 0 → CR, 5 (ΔP −3) → PR, 7 (ΔP −1) → indeterminate,
# 10 (ΔP +2, OMED stable) → PD, missing → not evaluable.
PAIN = {"CR": 0.0, "PR": 5.0, "IND": 7.0, "PD": 10.0, "NE": math.nan}


def _adresp(visits: dict[str, dict[str, str]]) -> pd.DataFrame:
    rows = [
        {"study_id": sid, "visit": visit, "worst_pain_baseline": 8.0, "worst_pain": PAIN[cls], "omed_baseline": 0.0, "omed": 0.0}
        for sid, by_visit in visits.items()
        for visit, cls in by_visit.items()
    ]
    return pd.DataFrame(rows, columns=["study_id", "visit", "worst_pain_baseline", "worst_pain", "omed_baseline", "omed"])


def _adtte(rows: list[tuple[str, str, float, int]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["study_id", "site", "os_days", "os_event"])


COHORT_VISITS = {
    "P1": {"day3": "PR", "week1": "CR", "month1": "PD", "month3": "PR"},
    "P2": {"day3": "IND", "week1": "PR", "month1": "PR"},
    "P3": {"day3": "PD", "week1": "NE", "month1": "CR", "month3": "NE"},
    "P4": {"day3": "IND", "week1": "IND"},
    "P5": {"day3": "PD", "week1": "IND", "month1": "NE"},
    "P6": {"day3": "CR", "week1": "CR"},
}
COHORT_TTE = [
    ("P1", "A", 400, 0),
    ("P2", "A", 200, 0),
    ("P3", "A", 120, 0),
    ("P4", "B", 20, 1),
    ("P5", "B", 35, 0),
    ("P6", "B", 60, 0),
]


def _by_stratum():
    return {r.stratum: r for r in time_to_response(_adresp(COHORT_VISITS), _adtte(COHORT_TTE), strata_variables=("site",))}


def test_hand_computed_cohort():
    """Six patients (time = the visit's target day: day 3, week 1 = 7, month 1 = 30, month 3 = 90).

    Times / status: P1 PR at day 3 → 3 response; P6 CR at day 3 → 3 response; P2 first PR at week 1
    → 7 response; P3 first CR at month 1 → 30 response; P4 never responds, dies day 20 → 20 death
    (competing); P5 never responds, alive, last evaluable visit week 1 (month 1 not evaluable) → 7
    censored.

    Aalen–Johansen, F(t) = F(t−) + S(t−)·d1/n, S(t) = S(t−)·(1 − d/n), exact ties:
      t = 3:  n = 6, d1 = 2        F = 2/6 = 1/3,            S = 4/6 = 2/3
      t = 7:  n = 4 (P2, P3, P4, P5; P5 censored at 7 is still at risk), d1 = 1
                                   F = 1/3 + (2/3)(1/4) = 1/2, S = (2/3)(3/4) = 1/2
      t = 20: n = 2 (P3, P4), death F = 1/2,                 S = (1/2)(1/2) = 1/4
      t = 30: n = 1 (P3), d1 = 1   F = 1/2 + (1/4)(1/1) = 3/4
    So by day 3 1/3, by week 1 1/2, by month 1 3/4; median = day 7 (first day F ≥ 0.5).
    (1 − KM with P4's death censored would give 1 − (4/6)(3/4)(0/1) = 1 at day 30, not 3/4.)

    Durability among the four responders, at visits after each one's first response:
      week 1:  P1 CR, P6 CR                       → 2 assessed, 2 still responding
      month 1: P1 PD, P2 PR                       → 2 assessed, 1 still responding (0.5)
      month 3: P1 PR (P3 not evaluable, left out) → 1 assessed, 1 still responding
    """
    result = _by_stratum()["all"]
    assert (result.n, result.responders, result.deaths_before_response, result.censored) == (6, 4, 1, 1)
    assert [(p.day, p.at_risk) for p in result.curve.points] == [(3.0, 6), (7.0, 4), (30.0, 1)]
    assert [p.estimate for p in result.curve.points] == pytest.approx([1 / 3, 1 / 2, 3 / 4], abs=1e-12)
    landmarks = {p.day: p.estimate for p in result.curve.landmarks}
    assert landmarks == pytest.approx({3.0: 1 / 3, 7.0: 1 / 2, 30.0: 3 / 4}, abs=1e-12)
    assert (result.median_days, result.median_reached, result.note) == (7.0, True, None)
    assert [(d.visit, d.assessed, d.still_responding, d.proportion) for d in result.durability] == [
        ("week1", 2, 2, 1.0),
        ("month1", 2, 1, 0.5),
        ("month3", 1, 1, 1.0),
    ]


def test_stratum_whose_curve_never_reaches_half():
    """Site B = P4, P5, P6. t = 3: n = 3, d1 = 1 (P6) → F = 1/3, S = 2/3; P5 censored at 7;
    t = 20: P4 dies (competing), S = 0 and F stays 1/3. Median not reached; follow-up ends at
    day 20, so the month-1 (day 30) value is not estimable (None)."""
    site_b = _by_stratum()["site=B"]
    landmarks = {p.day: p.estimate for p in site_b.curve.landmarks}
    assert landmarks[3.0] == pytest.approx(1 / 3) and landmarks[7.0] == pytest.approx(1 / 3)
    assert landmarks[30.0] is None
    assert (site_b.median_days, site_b.median_reached) == (None, False)
    assert [(d.visit, d.assessed, d.still_responding) for d in site_b.durability] == [("week1", 1, 1)]
    site_a = _by_stratum()["site=A"]  # P1 at 3, P2 at 7, P3 at 30: F = 1/3, 2/3, 1
    assert [p.estimate for p in site_a.curve.points] == pytest.approx([1 / 3, 2 / 3, 1.0])
    assert site_a.median_days == 7.0


def test_time_and_status_per_patient():
    ts = response_time_status(_adresp(COHORT_VISITS), _adtte(COHORT_TTE)).set_index("study_id")
    assert ts.loc[["P1", "P2", "P3", "P4", "P5", "P6"], "ttr_days"].tolist() == [3, 7, 30, 20, 7, 3]
    assert ts.loc[["P1", "P2", "P3", "P4", "P5", "P6"], "ttr_event"].tolist() == [1, 1, 1, 2, 0, 1]


def test_no_responders_gives_zero_incidence_and_a_reason():
    visits = {"P1": {"day3": "PD", "week1": "IND"}, "P2": {"day3": "IND"}}
    result = time_to_response(_adresp(visits), _adtte([("P1", "A", 40, 0), ("P2", "A", 5, 1)]), strata_variables=())[0]
    assert result.responders == 0 and result.note == NO_RESPONDERS
    assert result.curve.points == () and result.median_days is None and result.durability == ()
    assert {p.day: p.estimate for p in result.curve.landmarks}[3.0] == 0.0


def test_one_patient_and_empty_inputs_never_raise():
    one = time_to_response(_adresp({"P1": {"day3": "CR"}}), _adtte([("P1", "A", 3, 0)]), strata_variables=("site",))
    assert [r.stratum for r in one] == ["all", "site=A"]
    assert one[0].median_days == 3.0 and one[0].curve.landmarks[0].estimate == 1.0
    empty = time_to_response(_adresp({}), _adtte([]), strata_variables=("site",))
    assert [(r.stratum, r.n, r.note) for r in empty] == [("all", 0, NO_PATIENTS)]
    assert empty[0].curve.skipped_reason and empty[0].to_dict()["median_days"] is None
    no_visits = time_to_response(_adresp({}), _adtte([("P1", "A", 10, 1), ("P2", "A", 50, 0)]), strata_variables=())[0]
    assert (no_visits.deaths_before_response, no_visits.censored, no_visits.note) == (1, 1, NO_RESPONDERS)


def test_result_json_section_is_plain_and_keyed_by_day():
    class Sets:  # the two frames the section reads
        adresp = _adresp(COHORT_VISITS)
        adtte = _adtte(COHORT_TTE)

    section = time_to_response_section(Sets, ("site",))
    assert set(section) == {"all", "site=A", "site=B"}
    entry = section["all"]
    assert set(entry["at_days"]) == {"3", "7", "30"}
    assert entry["at_days"]["3"]["estimate"] == pytest.approx(1 / 3)
    assert entry["median_days"] == 7.0 and entry["cumulative_incidence"][-1]["estimate"] == pytest.approx(0.75)
    assert entry["durability"][1] == {"visit": "month1", "day": 30, "assessed": 2, "still_responding": 1, "proportion": 0.5}


def test_cif_reaching_one_by_rounding_gets_no_interval():
    """The demo cohort's CIF sums to 0.9999999999999999 when every patient still followed has responded;
    the log-log interval of that value would be [0, 1] (an overflow), so it is treated as 1: no interval."""
    from analytics.stats.competing_risks import loglog_ci

    assert loglog_ci(0.9999999999999999, 0.01) == (None, None)
    # F = 0.5, se = 0.1: k = 1.96·0.1/(0.5·ln 0.5) = −0.56554; 0.5^e^0.56554 = 0.5^1.76042 = 0.29517,
    # 0.5^e^−0.56554 = 0.5^0.56805 = 0.67453.
    assert loglog_ci(0.5, 0.01) == pytest.approx((0.29517, 0.67453), abs=1e-5)
