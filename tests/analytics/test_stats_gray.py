"""Gray's test (issue 12) against R cmprsk::cuminc ``$Tests`` (R 4.2.2, cmprsk 2.2-11):
``cuminc(sre_days, sre_event, group = <variable>, cencode = 0)$Tests["1", ]``."""

from __future__ import annotations

import json

import pytest

from analytics.stats import gray_test, gray_tests
from tests.analytics.r_oracle.cohort import adtte_frame
from tests.analytics.r_oracle.degenerate import gray_frame

# No two SREs on one day: Gray's test reproduces cuminc to rounding.
R_GRAY_UNTIED = (1.74299244656507, 0.418325172901691, 2)
# The 40-patient oracle cohort has SREs tied on days 48 and 123: cuminc reproduced to rounding.
R_GRAY_COHORT = {
    "modality": (0.192836225827326, 0.908084254929041, 2),
    "augmentation": (0.0426933239266897, 0.836303805446698, 1),
    "radiation_sequence": (1.19321181154867, 0.274682651914831, 1),
    "region": (0.649944926279038, 0.722547250050944, 2),
    "site": (5.03756722470459, 0.0805575363694372, 2),
}


def test_matches_cuminc_without_tied_sres():
    frame = gray_frame()
    r = gray_test(frame["sre_days"], frame["sre_event"], frame["modality"], variable="modality")
    assert (r.statistic, r.p_value) == pytest.approx(R_GRAY_UNTIED[:2], rel=1e-9)
    assert r.df == 2 and r.skipped_reason is None and r.test.startswith("Gray's test")
    assert [(g.group, g.n, g.events, g.competing_events) for g in r.groups] == [
        ("MWA", 20, 8, 8),
        ("RFA", 20, 8, 8),
        ("cryo", 20, 10, 5),
    ]


@pytest.mark.parametrize("variable", list(R_GRAY_COHORT))
def test_matches_cuminc_with_tied_sres(variable):
    (result,) = gray_tests(adtte_frame(), strata_variables=(variable,))
    statistic, p_value, df = R_GRAY_COHORT[variable]
    assert result.df == df and result.variable == variable
    assert result.statistic == pytest.approx(statistic, rel=1e-9)
    assert result.p_value == pytest.approx(p_value, rel=1e-9)


# 36 patients on 5 days, SREs, deaths and censorings tied within and across groups;
# R 4 cmprsk: cuminc(t, s, group = g, cencode = 0)$Tests["1", c("stat", "pv")].
TIED_DAYS = [(k * 7) % 5 + 1 for k in range(36)]
TIED_STATUS = [(k * k + k // 4) % 3 for k in range(36)]
R_GRAY_HEAVY_TIES = {
    2: ([("ab"[(k // 3) % 2]) for k in range(36)], 10.9945685660166, 0.00091379281966697),
    3: ([("abc"[(k // 2) % 3]) for k in range(36)], 7.63176803088429, 0.0220182413822744),
}


@pytest.mark.parametrize("k", list(R_GRAY_HEAVY_TIES))
def test_matches_cuminc_with_ties_across_causes_and_groups(k):
    group, statistic, p_value = R_GRAY_HEAVY_TIES[k]
    result = gray_test(TIED_DAYS, TIED_STATUS, group)
    assert result.df == k - 1
    assert (result.statistic, result.p_value) == pytest.approx((statistic, p_value), rel=1e-9)


def test_degenerate_cases_are_not_computable_with_a_reason():
    one = gray_test([1, 2, 3], [1, 2, 0], ["A", "A", "A"])
    assert one.statistic is None and one.skipped_reason == "not computable: fewer than two groups"
    none = gray_test([1, 2, 3, 4], [0, 2, 0, 2], ["A", "A", "B", "B"])
    assert none.skipped_reason == "not computable: no events of the cause of interest"
    # The log-rank case: both patients at risk on day 30 have an SRE.
    tie = gray_test([30, 30, 3], [1, 1, 0], ["RFA", "cryo", "cryo"])
    assert tie.statistic is None and tie.skipped_reason.startswith("not computable")
    assert json.dumps([one.to_dict(), none.to_dict(), tie.to_dict()], allow_nan=False)
