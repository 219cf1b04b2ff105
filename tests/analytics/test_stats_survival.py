"""Kaplan–Meier: a hand-computed case, the published ``aml`` example, a
lifelines cross-check and the 40-patient R-oracle cohort.

survfit default interval (conf.type = "log"): S·exp(±z·√G), G = Σ d/(n(n − d)),
z = qnorm(0.975) = 1.95996398454005, upper capped at 1.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from analytics.stats import kaplan_meier_curve, overall_survival, sre_one_minus_km
from tests.analytics.r_oracle.cohort import adtte_frame

Z = 1.95996398454005  # R: qnorm(0.975)


def _ci(s: float, greenwood: float) -> tuple[float, float]:
    se = math.sqrt(greenwood)
    return s * math.exp(-Z * se), min(1.0, s * math.exp(Z * se))


# times 2, 3, 3, 3+, 5, 6+, 8, 8+ (the censoring at 3 is in the risk set at 3)
HAND_TIME = [2, 3, 3, 3, 5, 6, 8, 8]
HAND_EVENT = [1, 1, 1, 0, 1, 0, 1, 0]
# t = 2: n 8, d 1: S = 7/8;            G = 1/(8·7)
# t = 3: n 7, d 2: S = 7/8·5/7 = 5/8;  G += 2/(7·5)
# t = 5: n 4, d 1: S = 5/8·3/4 = 15/32; G += 1/(4·3)
# t = 8: n 2, d 1: S = 15/32·1/2 = 15/64; G += 1/(2·1)
HAND = [
    (2, 8, 7 / 8, 1 / 56),
    (3, 7, 5 / 8, 1 / 56 + 2 / 35),
    (5, 4, 15 / 32, 1 / 56 + 2 / 35 + 1 / 12),
    (8, 2, 15 / 64, 1 / 56 + 2 / 35 + 1 / 12 + 1 / 2),
]


def test_km_hand_computed_with_ties_and_censoring():
    curve = kaplan_meier_curve(HAND_TIME, HAND_EVENT, landmarks=())
    assert (curve.n, curve.events) == (8, 5)
    assert [p.day for p in curve.points] == [2, 3, 5, 8]
    for point, (day, n, s, g) in zip(curve.points, HAND, strict=True):
        low, high = _ci(s, g)
        assert point.at_risk == n, day
        assert point.estimate == pytest.approx(s, abs=1e-12)
        assert (point.ci_low, point.ci_high) == pytest.approx((low, high), abs=1e-9)
    assert curve.points[0].ci_high == 1.0  # capped


def test_km_one_minus_flips_estimate_and_interval():
    curve = kaplan_meier_curve(HAND_TIME, HAND_EVENT, complement=True, landmarks=())
    day, _, s, g = HAND[2]
    low, high = _ci(s, g)
    p = curve.points[2]
    assert p.estimate == pytest.approx(1 - s) and p.ci_low == pytest.approx(1 - high) and p.ci_high == pytest.approx(1 - low)
    assert curve.method == "one_minus_kaplan_meier"


def test_km_landmarks_step_function():
    curve = kaplan_meier_curve(HAND_TIME, HAND_EVENT, landmarks=(1, 3, 4, 8, 9))
    by_day = {p.day: p for p in curve.landmarks}
    assert (by_day[1].estimate, by_day[1].ci_low, by_day[1].ci_high) == (1.0, 1.0, 1.0)  # before the first event
    assert by_day[3].estimate == pytest.approx(5 / 8)  # event at 3 counts at 3
    assert by_day[4].estimate == pytest.approx(5 / 8) and by_day[4].at_risk == 4  # times ≥ 4: 5, 6, 8, 8
    assert by_day[8].estimate == pytest.approx(15 / 64)
    assert by_day[9].estimate is None and by_day[9].ci_low is None  # beyond the last follow-up (8)


def test_km_reaching_zero_has_no_interval():
    curve = kaplan_meier_curve([1, 2, 2], [1, 1, 1], landmarks=())
    last = curve.points[-1]
    assert last.estimate == 0.0 and last.ci_low is None and last.ci_high is None
    assert curve.points[0].estimate == pytest.approx(2 / 3)


def test_km_drops_missing_and_rejects_bad_input():
    curve = kaplan_meier_curve([2, np.nan, 3], [1, 1, None], landmarks=())
    assert curve.n == 1 and curve.points[0].estimate == 0.0
    with pytest.raises(ValueError, match="≥ 0"):
        kaplan_meier_curve([-1, 2], [1, 1])
    with pytest.raises(ValueError, match="0/1"):
        kaplan_meier_curve([1, 2], [2, 1])
    empty = kaplan_meier_curve([], [])
    assert empty.skipped_reason and empty.points == () and empty.landmarks[0].estimate is None


# aml, Maintained arm (R survival package): 9, 13, 13+, 18, 23, 28+, 31, 34, 45+, 48, 161+
AML_TIME = [9, 13, 13, 18, 23, 28, 31, 34, 45, 48, 161]
AML_EVENT = [1, 1, 0, 1, 1, 0, 1, 1, 0, 1, 0]
# S by hand: 10/11, ·9/10, ·7/8, ·6/7, ·4/5, ·3/4, ·1/2; limits: summary(survfit(Surv(time, status) ~ 1,
# data = aml[aml$x == "Maintained", ])) printed with %.15g.
AML = [
    (9, 11, 10 / 11, 0.754133845081525, 1.0),
    (13, 10, 9 / 11, 0.619248987399364, 1.0),
    (18, 8, 63 / 88, 0.488426287422128, 1.0),
    (23, 7, 27 / 44, 0.37686705950168, 0.999157600228473),
    (31, 5, 27 / 55, 0.254859951199317, 0.945584955200429),
    (34, 4, 81 / 220, 0.154877117897191, 0.875260678143908),
    (48, 2, 81 / 440, 0.0359178984891853, 0.943525769474552),
]


def test_km_matches_survfit_on_aml():
    curve = kaplan_meier_curve(AML_TIME, AML_EVENT, landmarks=())
    assert len(curve.points) == len(AML)
    for p, (day, n, s, low, high) in zip(curve.points, AML, strict=True):
        assert (p.day, p.at_risk) == (day, n)
        assert p.estimate == pytest.approx(s, abs=1e-12)
        assert (p.ci_low, p.ci_high) == pytest.approx((low, high), abs=1e-9)


def test_km_matches_lifelines_on_waltons():
    from lifelines import KaplanMeierFitter
    from lifelines.datasets import load_waltons

    df = load_waltons()
    ours = kaplan_meier_curve(df["T"], df["E"], landmarks=())
    kmf = KaplanMeierFitter().fit(df["T"], df["E"])
    table = kmf.event_table[kmf.event_table["observed"] > 0]
    assert [p.day for p in ours.points] == pytest.approx(table.index.to_list())
    assert [p.at_risk for p in ours.points] == table["at_risk"].to_list()
    expected = kmf.survival_function_.loc[table.index, "KM_estimate"].to_numpy()
    assert np.allclose([p.estimate for p in ours.points], expected, atol=1e-12)


# R oracle cohort: summary(survfit(Surv(os_days, os_event) ~ 1)) (tests/analytics/r_oracle/oracle.R)
OS_R = {
    25: (40, 0.95, 0.884804413157851, 1.0),
    93: (28, 0.745714285714286, 0.620978469847717, 0.895505758927097),
    135: (25, 0.660647619047619, 0.525548252509657, 0.830476125587094),
    265: (10, 0.417840188235294, 0.266535315538982, 0.655036735193807),
}
OS_R_LANDMARKS = {30: 0.95, 90: 0.773333333333333, 180: 0.559607394957983, 365: 0.417840188235294}


def test_overall_survival_matches_survfit_on_cohort():
    curves = overall_survival(adtte_frame())
    curve = curves[0]
    assert curve.stratum == "all" and curve.endpoint == "os" and (curve.n, curve.events) == (40, 19)
    assert len(curve.points) == 14  # distinct death days
    points = {p.day: p for p in curve.points}
    for day, (n, s, low, high) in OS_R.items():
        p = points[day]
        assert p.at_risk == n
        assert (p.estimate, p.ci_low, p.ci_high) == pytest.approx((s, low, high), abs=1e-9)
    assert {p.day: p.estimate for p in curve.landmarks} == pytest.approx(OS_R_LANDMARKS, abs=1e-9)
    assert "modality=RFA" in {c.stratum for c in curves}


# 1 − KM of SRE with deaths censored: 1 − summary(survfit(Surv(sre_days, sre_event == 1) ~ 1))
SRE_KM_R = {
    3: (40, 0.05, 0.0, 0.115195586842149),
    93: (22, 0.236200506036932, 0.075498466492308, 0.368968416131475),
    258: (3, 0.661751739249742, 0.162359006002063, 0.863411787722442),
    348: (1, 1.0, None, None),
}


def test_sre_one_minus_km_matches_survfit_and_is_labelled():
    curve = sre_one_minus_km(adtte_frame(), strata_variables=())[0]
    assert curve.method == "one_minus_kaplan_meier" and "overestimates" in curve.label
    assert (curve.events, curve.competing_events) == (15, 0)  # deaths are censored here
    points = {p.day: p for p in curve.points}
    for day, (n, f, low, high) in SRE_KM_R.items():
        p = points[day]
        assert p.at_risk == n and p.estimate == pytest.approx(f, abs=1e-9)
        assert p.ci_low == pytest.approx(low, abs=1e-9) if low is not None else p.ci_low is None
        assert p.ci_high == pytest.approx(high, abs=1e-9) if high is not None else p.ci_high is None
