"""The report's vocabulary and confidence intervals for proportions."""

from __future__ import annotations

import pytest
from scipy.stats import binomtest

from analytics.render.labels import percent_ci, proportion_ci, stratum_label, visit_label


@pytest.mark.parametrize(("hits", "total"), [(0, 5), (3, 7), (7, 7), (45, 120), (1, 1000), (59, 60)])
@pytest.mark.parametrize("method", ["wilson", "exact"])
def test_intervals_agree_with_scipy_binomtest(hits, total, method):
    expected = binomtest(hits, total).proportion_ci(confidence_level=0.95, method=method)
    assert proportion_ci(hits, total, method) == pytest.approx((expected.low, expected.high), abs=1e-9)


def test_wilson_by_hand_and_exact_against_r():
    # R: prop.test(3, 7, correct = FALSE)$conf.int = 0.1582199 0.7495416 (Wilson score interval)
    assert proportion_ci(3, 7, "wilson") == pytest.approx((0.1582199, 0.7495416), abs=1e-7)
    # R: binom.test(3, 7)$conf.int = 0.09898828 0.81594843
    assert proportion_ci(3, 7, "exact") == pytest.approx((0.09898828, 0.81594843), abs=1e-7)


def test_empty_denominators_have_no_interval_and_read_as_such():
    assert proportion_ci(0, 0) is None and proportion_ci(None, 5) is None
    assert percent_ci(0, 0) == "0/0"
    assert percent_ci(3, 7) == "3/7, 43% (16–75)"


def test_codes_become_words():
    assert (visit_label("day3"), visit_label("month12"), visit_label("baseline")) == ("Day 3", "Month 12", "Baseline")
    assert stratum_label("modality=RFA") == "Modality: RFA"
    assert stratum_label("radiation_sequence=before", with_variable=False) == "before"
    assert stratum_label("all") == "All patients"
