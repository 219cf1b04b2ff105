"""Aalen–Johansen cumulative incidence of SRE with death competing.

Hand case (status 1 = SRE, 2 = death without SRE, 0 = censored):
    1:1, 2:1, 2:2 (an SRE and a death tied on day 2), 3:0, 4:2, 5:1, 6:0
Estimate, F += S(t−)·d1/n, S ·= (1 − d/n):
    t=1: n 7, d1 1        F = 1/7,               S = 6/7
    t=2: n 6, d1 1, d2 1  F = 1/7 + 6/7·1/6 = 2/7, S = 6/7·4/6 = 4/7  (one shared risk set)
    t=4: n 3, d2 1        F = 2/7,               S = 4/7·2/3 = 8/21
    t=5: n 2, d1 1        F = 2/7 + 8/21·1/2 = 10/21
cuminc variance terms (w = S⁻²·d/n² here, all tie factors 1; b = 1/S; a = F/S for
deaths, 1 + b·F for SREs; v1 += a²w, v2 += abw, v3 += b²w; Var = v1 + F²v3 − 2F·v2):
    t=1 SRE:   w 1/49,  b 7/6, a 7/6  → v1, v2, v3 += 1/36 each     → Var = 1/49
    t=2 death: w 1/49,  b 7/4, a 1/2  → += 1/196, 1/56, 1/16
    t=2 SRE:   w 1/49,  b 7/4, a 3/2  → += 9/196, 3/56, 1/16
    t=4 death: w 16/441, b 21/8, a 3/4 → += 1/49, 1/14, 1/4
    t=5 SRE:   w 16/441, b 21/4, a 7/2 → += 4/9, 2/3, 1
R (cmprsk 2.2-11, cuminc(t, s, cencode = 0)) prints var 0.02040816, 0.03458050, 0.06431091.
"""

from __future__ import annotations

import math
from fractions import Fraction as Fr

import pytest

from analytics.stats import aalen_johansen_curve, kaplan_meier_curve, sre_cumulative_incidence
from analytics.stats.competing_risks import aalen_johansen_steps, loglog_ci
from analytics.stats.risk_sets import clean_time_status, endpoint_time_status
from tests.analytics.r_oracle.cohort import adtte_frame

Z = 1.95996398454005  # R: qnorm(0.975)

TIME = [1, 2, 2, 3, 4, 5, 6]
STATUS = [1, 1, 2, 0, 2, 1, 0]


def _var(terms, f):
    v1 = sum(t[0] for t in terms)
    v2 = sum(t[1] for t in terms)
    v3 = sum(t[2] for t in terms)
    return v1 + f * f * v3 - 2 * f * v2


T1 = (Fr(1, 36), Fr(1, 36), Fr(1, 36))
T2_DEATH = (Fr(1, 196), Fr(1, 56), Fr(1, 16))
T2_SRE = (Fr(9, 196), Fr(3, 56), Fr(1, 16))
T4_DEATH = (Fr(1, 49), Fr(1, 14), Fr(1, 4))
T5_SRE = (Fr(4, 9), Fr(2, 3), Fr(1))
HAND = {
    1: (Fr(1, 7), _var([T1], Fr(1, 7)), 7),
    2: (Fr(2, 7), _var([T1, T2_DEATH, T2_SRE], Fr(2, 7)), 6),
    5: (Fr(10, 21), _var([T1, T2_DEATH, T2_SRE, T4_DEATH, T5_SRE], Fr(10, 21)), 2),
}
R_VAR = {1: 0.02040816, 2: 0.03458050, 5: 0.06431091}


def test_hand_case_estimate_and_cuminc_variance():
    steps = aalen_johansen_steps(*clean_time_status(TIME, STATUS))
    assert steps["time"].tolist() == [1, 2, 5]  # the curve jumps at SRE times only
    for i, (day, (f, var, n)) in enumerate(HAND.items()):
        assert steps["cif"][i] == pytest.approx(float(f), abs=1e-12)
        assert steps["var"][i] == pytest.approx(float(var), abs=1e-12)
        assert steps["var"][i] == pytest.approx(R_VAR[day], abs=1e-8)
        assert steps["at_risk"][i] == n
    assert float(HAND[1][1]) == pytest.approx(1 / 49)  # the sums above reduce to 1/49 at t = 1


def test_loglog_interval_closed_form_at_day_1():
    # F = 1/7, se = 1/7: −z·se/(F·log F) = z/log 7, so lower = (1/7)^exp(z/log 7), upper = (1/7)^exp(−z/log 7)
    curve = aalen_johansen_curve(TIME, STATUS, landmarks=())
    p = curve.points[0]
    assert p.ci_low == pytest.approx((1 / 7) ** math.exp(Z / math.log(7)), abs=1e-12)
    assert p.ci_high == pytest.approx((1 / 7) ** math.exp(-Z / math.log(7)), abs=1e-12)
    assert p.ci_low < p.estimate < p.ci_high
    assert (curve.events, curve.competing_events, curve.n) == (3, 2, 7)


def test_tied_sres_use_the_tie_factor():
    # t=1: n 4, d1 2: F = 2/4; S = 1/2; τ = 1 − (2 − 1)/(4 − 1) = 2/3, w = 1·τ·2/16 = 1/12,
    # b = 2, a = 1 + 2·1/2 = 2 → v1 = v2 = v3 = 4/12; Var = 1/3 + 1/4·1/3 − 2·1/2·1/3 = 1/12 (R: 0.08333333)
    steps = aalen_johansen_steps(*clean_time_status([1, 1, 2, 3], [1, 1, 2, 0]))
    assert steps["cif"].tolist() == [0.5]
    assert steps["var"][0] == pytest.approx(1 / 12, abs=1e-12)


def test_landmarks_are_the_step_value_and_none_past_follow_up():
    curve = aalen_johansen_curve(TIME, STATUS, landmarks=(0.5, 1.5, 4, 6, 7))
    by_day = {p.day: p for p in curve.landmarks}
    assert by_day[0.5].estimate == 0.0 and by_day[0.5].ci_low is None  # no SRE yet, log-log undefined
    assert by_day[1.5].estimate == pytest.approx(1 / 7)
    assert by_day[4].estimate == pytest.approx(2 / 7) and by_day[4].at_risk == 3  # times ≥ 4: 4, 5, 6
    assert by_day[6].estimate == pytest.approx(10 / 21)
    assert by_day[7].estimate is None  # beyond the largest follow-up time (6), as cmprsk::timepoints


def test_one_minus_km_overestimates_aj():
    # deaths censored: S = 6/7 (t1), ·5/6 (t2, n 6), ·1/2 (t5, n 2) = 5/14 → 1 − KM = 9/14 > 10/21
    km = kaplan_meier_curve(TIME, [1 if s == 1 else 0 for s in STATUS], complement=True, landmarks=(6,))
    aj = aalen_johansen_curve(TIME, STATUS, landmarks=(6,))
    assert km.landmarks[0].estimate == pytest.approx(9 / 14)
    assert aj.landmarks[0].estimate == pytest.approx(10 / 21)


def test_loglog_ci_edges():
    assert loglog_ci(0.0, 0.0) == (None, None)
    assert loglog_ci(1.0, 0.01) == (None, None)
    assert loglog_ci(0.3, 0.0) == pytest.approx((0.3, 0.3))


# R oracle cohort: cuminc(sre_days, sre_event, cencode = 0)[["1 1"]] and timepoints()
COHORT_R = {
    3: (40, 0.05, 0.00121794871794872, 0.00882981393182784, 0.149944423531926),
    48: (32, 0.125, 0.00281386520719981, 0.0449540814230952, 0.248102539014205),
    93: (22, 0.205397727272727, 0.00436125092408856, 0.0947161981840679, 0.345428981467355),
    123: (19, 0.262026515151515, 0.00530827690964426, 0.133738381854522, 0.410005940820348),
    348: (1, 0.605784047865014, 0.0329254153798559, 0.198489588495844, 0.856099926695995),
}
COHORT_R_LANDMARKS = {30: 0.05, 90: 0.177083333333333, 180: 0.327454050447658, 365: None}


def test_cohort_matches_cuminc():
    curve = sre_cumulative_incidence(adtte_frame(), strata_variables=())[0]
    assert curve.method == "aalen_johansen" and (curve.events, curve.competing_events) == (15, 14)
    assert len(curve.points) == 12  # distinct SRE days
    steps = aalen_johansen_steps(*endpoint_time_status(adtte_frame(), "sre"))
    points = {p.day: p for p in curve.points}
    for day, (n, f, var, low, high) in COHORT_R.items():
        p = points[day]
        assert p.at_risk == n and p.estimate == pytest.approx(f, abs=1e-9)
        assert (p.ci_low, p.ci_high) == pytest.approx((low, high), abs=1e-9)
        assert steps["var"][steps["time"].tolist().index(day)] == pytest.approx(var, abs=1e-12)
    for p in curve.landmarks:
        expected = COHORT_R_LANDMARKS[p.day]
        assert p.estimate == (pytest.approx(expected, abs=1e-9) if expected is not None else None)


def test_cohort_strata_are_subsets():
    curves = {c.stratum: c for c in sre_cumulative_incidence(adtte_frame(), strata_variables=["region"])}
    assert set(curves) == {"all", "region=long_bone", "region=pelvis", "region=spine"}
    assert sum(c.n for k, c in curves.items() if k != "all") == 40
    assert curves["region=spine"].n == 15
