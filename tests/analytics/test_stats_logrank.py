"""Log-rank (survdiff, rho = 0): hand case, the published ``aml`` result, the
R-oracle cohort and a lifelines cross-check."""

from __future__ import annotations

import json
import math

import pandas as pd
import pytest

from analytics.stats import logrank_by, logrank_test, logrank_tests
from tests.analytics.r_oracle.cohort import adtte_frame


def test_two_groups_by_hand():
    # A: 1, 3 (events); B: 2 (event), 4+ (censored). Pooled event times 1, 2, 3:
    #   t=1: N 4 (A 2), D 1 → E_A 2/4,  V 1·3/3·(2/4)(2/4) = 1/4
    #   t=2: N 3 (A 1), D 1 → E_A 1/3,  V 1·2/2·(1/3)(2/3) = 2/9
    #   t=3: N 2 (A 1), D 1 → E_A 1/2,  V 1·1/1·(1/2)(1/2) = 1/4
    # O_A = 2, E_A = 4/3, V = 13/18 → χ² = (2/3)²/(13/18) = 8/13 (R survdiff: 0.615384615384615)
    r = logrank_test([1, 3, 2, 4], [1, 1, 1, 0], ["A", "A", "B", "B"])
    a, b = r.groups
    assert (a.group, a.n, a.observed) == ("A", 2, 2.0) and a.expected == pytest.approx(4 / 3)
    assert (b.observed, b.expected) == pytest.approx((1.0, 5 / 3))
    assert r.chisq == pytest.approx(8 / 13, abs=1e-12) and r.df == 1
    assert r.p_value == pytest.approx(math.erfc(math.sqrt(8 / 13 / 2)), abs=1e-12)  # χ²₁ tail


def test_aml_published_result():
    # R: survdiff(Surv(time, status) ~ x, data = aml): Chisq = 3.4 on 1 df, p = 0.07;
    # Nonmaintained: 5, 5, 8, 8, 12, 16+, 23, 27, 30, 33, 43, 45; exact 3.3963886989776, expected 10.6893359923007 /
    # 7.31066400769928, p 0.0653393220405051
    time = [9, 13, 13, 18, 23, 28, 31, 34, 45, 48, 161, 5, 5, 8, 8, 12, 16, 23, 27, 30, 33, 43, 45]
    status = [1, 1, 0, 1, 1, 0, 1, 1, 0, 1, 0, 1, 1, 1, 1, 1, 0, 1, 1, 1, 1, 1, 1]
    group = ["Maintained"] * 11 + ["Nonmaintained"] * 12
    r = logrank_test(time, status, group)
    assert r.chisq == pytest.approx(3.3963886989776, abs=1e-9)
    assert r.p_value == pytest.approx(0.0653393220405051, abs=1e-9)
    assert [g.observed for g in r.groups] == [7, 11]
    assert [g.expected for g in r.groups] == pytest.approx([10.6893359923007, 7.31066400769928], abs=1e-9)


def test_three_groups_on_cohort_match_survdiff():
    # survdiff(Surv(os_days, os_event) ~ modality, data = cohort): chisq 4.46535773686112 on 2 df
    r = logrank_by(adtte_frame(), "modality", endpoint="os")
    assert [g.group for g in r.groups] == ["MWA", "RFA", "cryo"]
    assert [g.observed for g in r.groups] == [4, 11, 4]
    assert [g.expected for g in r.groups] == pytest.approx([5.45000439062359, 6.71608294837397, 6.83391266100244], abs=1e-9)
    assert r.chisq == pytest.approx(4.46535773686112, abs=1e-9) and r.df == 2
    assert r.p_value == pytest.approx(math.exp(-4.46535773686112 / 2), abs=1e-9)  # χ²₂ tail = exp(−x/2)


def test_sre_is_cause_specific():
    # survdiff(Surv(sre_days, sre_event == 1) ~ augmentation): deaths censored
    r = logrank_by(adtte_frame(), "augmentation", endpoint="sre")
    assert [g.observed for g in r.groups] == [8, 7]
    assert [g.expected for g in r.groups] == pytest.approx([8.20982854864434, 6.79017145135566], abs=1e-9)
    assert r.chisq == pytest.approx(0.0132761280849771, abs=1e-10)
    r3 = logrank_by(adtte_frame(), "modality", endpoint="sre")
    assert r3.chisq == pytest.approx(0.626879044809977, abs=1e-9)


def test_matches_lifelines_on_waltons():
    from lifelines.datasets import load_waltons
    from lifelines.statistics import multivariate_logrank_test

    df = load_waltons()
    ours = logrank_test(df["T"], df["E"], df["group"])
    theirs = multivariate_logrank_test(df["T"], df["group"], df["E"])
    assert ours.chisq == pytest.approx(theirs.test_statistic, rel=1e-10)
    assert ours.p_value == pytest.approx(theirs.p_value, rel=1e-8)


def test_degenerate_inputs_are_skipped_not_raised():
    one = logrank_test([1, 2, 3], [1, 0, 1], ["A", "A", "A"])
    assert one.chisq is None and one.p_value is None and one.skipped_reason
    no_events = logrank_test([1, 2, 3, 4], [0, 0, 0, 0], ["A", "A", "B", "B"])
    assert no_events.skipped_reason and no_events.to_dict()["chisq"] is None


def test_missing_group_rows_are_dropped_and_all_variables_run():
    frame = adtte_frame()
    frame.loc[0, "modality"] = None  # P01, RFA, censored at 175
    r = logrank_by(frame, "modality")
    assert sum(g.n for g in r.groups) == 39
    results = logrank_tests(adtte_frame())
    assert len(results) == 10  # 2 endpoints × 5 stratification variables
    assert {(r.endpoint, r.variable) for r in results} >= {("os", "site"), ("sre", "region")}
    assert all(r.p_value is not None for r in results)


def test_unknown_endpoint_raises():
    with pytest.raises(ValueError, match="endpoint"):
        logrank_by(pd.DataFrame({"x": [1]}), "x", endpoint="pfs")


def test_zero_variance_is_not_computable_with_a_reason():
    # Issue 12: RFA SRE day 30, cryo SRE day 30, cryo censored day 3. At day 30 both patients at risk
    # have the event, so N − D = 0 and the variance is 0; R survdiff stops ("computationally singular").
    r = logrank_test([30, 30, 3], [1, 1, 0], ["RFA", "cryo", "cryo"])
    assert (r.chisq, r.p_value, r.df) == (None, None, 0)
    assert r.skipped_reason.startswith("not computable") and "no variance" in r.skipped_reason
    assert [(g.group, g.n, g.observed, g.expected) for g in r.groups] == [("RFA", 1, 1.0, 1.0), ("cryo", 2, 1.0, 1.0)]
    assert json.dumps(r.to_dict(), allow_nan=False)
