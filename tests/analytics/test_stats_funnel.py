"""Site benchmarking funnel plots (issue 16 item 4): exact binomial limits against R's qbinom/pbinom,
sites outside the limits named, degenerate registries (analytics/stats/funnel.py)."""

from __future__ import annotations

import pandas as pd
import pytest

from analytics.stats.funnel import binomial_limit, control_limits, funnel_indicator, site_benchmarking

# R 4.2.2: r <- qbinom(q, n, p0); a <- (pbinom(r, n, p0) - q) / (pbinom(r, n, p0) - pbinom(r - 1, n, p0)); (r - a) / n
R_LIMITS = {
    (0.1, 50, 0.001): -0.0161193495650347,  # negative: clipped to 0
    (0.1, 50, 0.025): 0.0138629269573437,
    (0.1, 50, 0.975): 0.179722727623364,
    (0.1, 50, 0.999): 0.24012841875239,
    (0.1, 7, 0.975): 0.290016143631664,
    (0.1, 7, 0.999): 0.525321239606956,
    (0.35, 120, 0.001): 0.21548481879389,
    (0.35, 120, 0.025): 0.26148985414487,
    (0.35, 120, 0.975): 0.432342642795761,
    (0.35, 120, 0.999): 0.483165019294294,
    (0.8, 20, 0.001): 0.46074587371573,
    (0.8, 20, 0.025): 0.583884520549027,
    (0.8, 20, 0.975): 0.93831595655029,
    (0.8, 20, 0.999): 0.995663191310058,
    (0.05, 3, 0.975): 0.28962757771622,
}


@pytest.mark.parametrize(("p0", "n", "q"), list(R_LIMITS))
def test_limits_match_r(p0, n, q):
    assert binomial_limit(p0, n, q) == pytest.approx(max(R_LIMITS[(p0, n, q)], 0.0), abs=1e-12)


def test_hand_computed_limit():
    """n = 10, p0 = 0.5, q = 0.975: P(R ≤ 7) = 968/1024 < 0.975 ≤ P(R ≤ 8) = 1013/1024, so r = 8 and
    α = (1013/1024 − 0.975) / (45/1024) = 0.6444…; limit = (8 − α) / 10."""
    alpha = (1013 / 1024 - 0.975) / (45 / 1024)
    assert binomial_limit(0.5, 10, 0.975) == pytest.approx((8 - alpha) / 10, abs=1e-12)
    # lower: P(R ≤ 1) = 11/1024 < 0.025 ≤ P(R ≤ 2) = 56/1024, r = 2, α = (56 − 25.6) / 45
    low, high = control_limits(0.5, 10, 0.95)
    assert (low, high) == pytest.approx(((2 - 30.4 / 45) / 10, (8 - alpha) / 10), abs=1e-12)


def test_outlying_sites_are_named():
    funnel = funnel_indicator("major_complications", {"A": (2, 100), "B": (3, 100), "C": (20, 100), "D": (0, 0)})
    assert funnel.registry_rate == pytest.approx(25 / 300)
    by_site = {s.site: s for s in funnel.sites}
    assert by_site["C"].outside_998 == "above" and funnel.outside_998 == ("C",)
    assert set(funnel.outside_95) == {"A", "C"} and by_site["A"].outside_95 == "below"
    assert by_site["D"].rate is None and by_site["D"].lower_95 is None and by_site["D"].outside_95 == "not assessed"
    assert "site D: no patients evaluable, not assessed." in funnel.notes


def test_single_site_and_empty_registry():
    single = funnel_indicator("follow_up_completeness", {"ONLY": (45, 50)})
    assert single.sites[0].outside_998 == "within" and single.outside_95 == ()
    assert single.notes[0].startswith("a single site")
    empty = funnel_indicator("pain_response_month1", {"A": (0, 0)})
    assert empty.registry_rate is None and empty.skipped_reason == "no patients evaluable at month 1 in the registry"
    zero = funnel_indicator("major_complications", {"A": (0, 40), "B": (0, 10)})
    assert (zero.sites[0].lower_998, zero.sites[0].upper_998) == (0.0, 0.0) and zero.outside_998 == ()


def test_site_benchmarking_counts():
    patients = pd.DataFrame({"study_id": ["a1", "a2", "b1", "b2", "b3"], "site": ["A", "A", "B", "B", "B"]})
    aes = pd.DataFrame({"study_id": ["a1", "a1", "b1", "b2"], "sir_grade": ["severe", "mild", "moderate", "death"]})
    adresp = pd.DataFrame(
        {
            "study_id": ["a1", "a2", "b1", "b2", "b3", "a1"],
            "visit": ["month1"] * 5 + ["month3"],
            "worst_pain_baseline": [8, 8, 7, 6, 9, 8],
            "worst_pain": [4, None, 7, 1, 8, 3],
            "omed_baseline": [0.0] * 6,
            "omed": [0.0] * 6,
        }
    )
    itt = {"month1": ["a1", "a2", "b1", "b2", "b3"], "month3": ["a1"]}
    funnels = {
        f.indicator: f
        for f in site_benchmarking(patients=patients, aes=aes, adresp=adresp, itt_population=itt, visits=("month1", "month3"))
    }
    major = {s.site: (s.events, s.n) for s in funnels["major_complications"].sites}
    assert major == {"A": (1, 2), "B": (1, 3)}  # a1 severe; b2 death (moderate is not major)
    response = {s.site: (s.events, s.n) for s in funnels["pain_response_month1"].sites}
    assert response == {"A": (1, 1), "B": (1, 3)}  # a1 −4 (PR), b2 −5 (PR); b1 0, b3 −1 not responders; a2 missing
    completeness = {s.site: (s.events, s.n) for s in funnels["follow_up_completeness"].sites}
    assert completeness == {"A": (2, 3), "B": (3, 3)}
    no_month1 = site_benchmarking(patients=patients, aes=aes, adresp=adresp, itt_population=itt, visits=("month3",))
    assert [f.indicator for f in no_month1] == ["major_complications", "follow_up_completeness"]
