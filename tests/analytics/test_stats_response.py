"""Pain response classification and rates (docs/domain.md §4 and its registry conventions).

Every expected category below is derived by hand from the rules; the comment
on each case names the rule and the numbers that decide it.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
import pytest

from analytics.stats import pain_response_classify, pain_response_classify_frame, pain_response_rates, with_response

# (P0, P, B, O, expected, why)
CASES = [
    # --- CR: P = 0 with no analgesic increase (O ≤ B)
    (8, 0, 30, 30, "CR", "P = 0, OMED unchanged"),
    (8, 0, 30, 10, "CR", "P = 0, OMED reduced"),
    (8, 0, 0, 0, "CR", "P = 0, B = O = 0 is no increase"),
    (0, 0, 10, 10, "CR", "P0 = P = 0, no increase"),
    (2, 0, 10, 10, "CR", "order: ΔP = −2 also meets PR, CR comes first"),
    (8, 0, 30, 31, "indeterminate", "P = 0 but O > B (any increase); +3.3% is not ≥ 25%, ΔP = −8 ∉ {0,1}"),
    (8, 0, 0, 5, "indeterminate", "P = 0 but 0 → 5 is an increase; B = 0 so ≥ 25% up, but ΔP = −8 ∉ {0,1}"),
    # --- PR by pain: ΔP ≤ −2 with no analgesic increase
    (8, 6, 30, 30, "PR", "ΔP = −2 exactly, O = B"),
    (8, 5, 30, 20, "PR", "ΔP = −3 with OMED reduced"),
    (8, 6, 0, 0, "PR", "ΔP = −2, B = O = 0"),
    (8, 7, 30, 30, "indeterminate", "ΔP = −1 is not ≤ −2, OMED stable"),
    (8, 5, 30, 40, "indeterminate", "ΔP = −3 but O > B forbids PR; OMED +33% yet ΔP ∉ {0,1}"),
    (8, 5, 30, 30.01, "indeterminate", "ΔP = −3 but a tiny increase O > B forbids PR"),
    # --- PR by analgesic reduction ≥ 25% (B > 0, O ≤ 0.75·B) with ΔP ≤ 0
    (8, 8, 40, 30, "PR", "O = 0.75·B exactly, ΔP = 0"),
    (8, 7, 40, 0, "PR", "opioids stopped (40 → 0), ΔP = −1"),
    (8, 8, 40, 30.5, "indeterminate", "30.5 > 0.75·40 = 30: reduction 23.75% < 25%"),
    (8, 9, 40, 30, "indeterminate", "reduction 25% but ΔP = +1 > 0; +1 alone is not PD"),
    (8, 8, 0, 0, "indeterminate", "B = 0: no reduction possible; ΔP = 0, OMED stable"),
    # --- PD by pain: ΔP ≥ 2 with stable OMED (neither −25% nor +25%)
    (5, 7, 30, 30, "PD", "ΔP = +2 exactly, OMED unchanged"),
    (5, 7, 40, 49, "PD", "ΔP = +2, +22.5% is still stable"),
    (5, 7, 40, 31, "PD", "ΔP = +2, −22.5% is still stable"),
    (5, 6, 30, 30, "indeterminate", "ΔP = +1 with stable OMED is not PD"),
    (5, 7, 40, 30, "indeterminate", "ΔP = +2 but OMED −25% is not stable (convention)"),
    (5, 8, 40, 50, "PD", "rise of both: ΔP = +3 and OMED +25% (convention)"),
    (5, 7, 0, 5, "PD", "rise of both with B = 0: ΔP = +2 and 0 → 5"),
    # --- PD by OMED increase ≥ 25% with ΔP ∈ {0, 1}
    (5, 5, 40, 50, "PD", "O = 1.25·B exactly, ΔP = 0"),
    (5, 6, 40, 50, "PD", "O = 1.25·B, ΔP = +1"),
    (5, 5, 40, 49.9, "indeterminate", "49.9 < 1.25·40 = 50: +24.75%"),
    (5, 4, 40, 50, "indeterminate", "OMED +25% but ΔP = −1 ∉ {0,1}"),
    (5, 5, 0, 10, "PD", "B = 0: any O > 0 is a ≥ 25% increase, ΔP = 0"),
    (5, 6, 0, 0.1, "PD", "B = 0, O = 0.1 > 0, ΔP = +1"),
    (5, 5, 0, 0, "indeterminate", "B = O = 0, ΔP = 0: nothing applies"),
]


@pytest.mark.parametrize(("p0", "p", "b", "o", "expected", "why"), CASES, ids=[c[5] for c in CASES])
def test_classify_each_rule_and_convention(p0, p, b, o, expected, why):
    assert pain_response_classify(p0, p, b, o) == expected, why


@pytest.mark.parametrize("missing", [None, float("nan"), np.nan, pd.NA])
@pytest.mark.parametrize("position", range(4))
def test_any_missing_value_is_not_evaluable(missing, position):
    values = [8, 0, 30, 30]  # would be CR
    values[position] = missing
    assert pain_response_classify(*values) == "not_evaluable"


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ((11, 5, 0, 0), "worst_pain_baseline"),
        ((5, -1, 0, 0), "worst_pain"),
        ((5, 5, -1, 0), "omed_baseline"),
        ((5, 5, 0, -2), "omed"),
    ],
)
def test_out_of_range_values_raise(values, message):
    with pytest.raises(ValueError, match=message):
        pain_response_classify(*values)


def _frame(rows) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["worst_pain_baseline", "worst_pain", "omed_baseline", "omed"])


def test_vectorised_matches_the_hand_cases_and_missing():
    rows = [c[:4] for c in CASES] + [(8, np.nan, 30, 30), (np.nan, 0, 30, 30), (8, 0, 30, np.nan), (8, 0, np.nan, 30)]
    expected = [c[4] for c in CASES] + ["not_evaluable"] * 4
    frame = _frame(rows)
    frame.index = frame.index + 100  # the result keeps the frame's index
    result = pain_response_classify_frame(frame)
    assert list(result.index) == list(frame.index)
    assert result.tolist() == expected


def test_vectorised_equals_scalar_over_a_grid():
    grid = list(itertools.product([0, 2, 5, 8, 10], range(11), [0, 10, 40], [0, 5, 7.5, 10, 12.5, 30, 40, 49, 50, 60]))
    vector = pain_response_classify_frame(_frame(grid)).tolist()
    scalar = [pain_response_classify(*row) for row in grid]
    assert vector == scalar
    assert set(vector) == {"CR", "PR", "PD", "indeterminate"}


def test_classifying_some_rows_equals_those_rows_of_the_whole_and_leaves_the_frame_alone():
    rows = [c[:4] for c in CASES] + [(8, np.nan, 30, 30), (np.nan, 0, 30, 30), (8, 0, 30, np.nan)]
    frame = _frame(rows).astype({"worst_pain": "float32"})  # a narrow column, as the analysis sets carry
    frame.index = frame.index * 3 + 7
    before = frame.copy()
    chosen = np.array([len(rows) - 1, 0, 5, len(rows) - 2])
    part = pain_response_classify_frame(frame, chosen)
    whole = pain_response_classify_frame(frame)
    assert list(part.index) == list(frame.index[chosen])
    assert part.tolist() == whole.iloc[chosen].tolist()
    assert part.iloc[0] == "not_evaluable" and part.iloc[3] == "not_evaluable"
    pd.testing.assert_frame_equal(frame, before)  # missing values were zeroed in copies, not in the frame


def test_follow_up_responses_classify_the_follow_up_rows_with_their_index():
    from analytics.stats.response import follow_up_responses

    frame = ADRESP.copy()
    frame.index = frame.index + 50
    frame["response"] = [None, None, None, "indeterminate", None, None, None, None, None]  # one recorded, kept
    result = follow_up_responses(frame)
    follow_up = frame[frame["visit"] != "baseline"]
    assert list(result.columns) == ["study_id", "visit", "response"]
    assert list(result.index) == list(follow_up.index)
    assert result["study_id"].tolist() == follow_up["study_id"].tolist()
    assert result["response"].tolist() == [
        "CR",
        "PR",
        "indeterminate",
        "indeterminate",
        "not_evaluable",
        "PR",
        "PR",
        "not_evaluable",
    ]


def test_vectorised_rejects_out_of_range():
    with pytest.raises(ValueError, match="OMED"):
        pain_response_classify_frame(_frame([(5, 5, -1, 0)]))


# --- rates ---------------------------------------------------------------------


def _adresp(rows) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["study_id", "visit", "worst_pain_baseline", "worst_pain", "omed_baseline", "omed"])


ADRESP = _adresp(
    [
        ("A", "baseline", 8, 8, 30, 30),  # baseline rows are not response visits
        ("A", "month1", 8, 0, 30, 30),  # CR
        ("B", "month1", 8, 5, 30, 30),  # PR (ΔP = −3)
        ("C", "month1", 5, 8, 30, 30),  # PD (ΔP = +3, stable)
        ("D", "month1", 8, 7, 30, 30),  # indeterminate
        ("E", "month1", 8, 3, 30, np.nan),  # not evaluable (OMED missing)
        ("A", "month3", 8, 6, 30, 30),  # PR
        ("G", "month3", 8, 2, 30, 20),  # PR, but G is not in the month-3 ITT set
        ("B", "month3", 8, np.nan, 30, 30),  # not evaluable
    ]
)
ITT = {"month1": {"A", "B", "C", "D", "E", "F"}, "month3": {"A", "B"}}


def _by(results, stratum, visit):
    return next(r for r in results if r.stratum == stratum and r.visit == visit)


def test_rates_evaluable_and_itt():
    results = pain_response_rates(ADRESP, itt_population=ITT)
    m1 = _by(results, "all", "month1")
    assert m1.counts == {"CR": 1, "PR": 1, "PD": 1, "indeterminate": 1, "not_evaluable": 1}
    assert (m1.n_records, m1.evaluable, m1.responders) == (5, 4, 2)
    assert m1.evaluable_rate == pytest.approx(2 / 4)  # (CR + PR) / evaluable
    # F is alive and on study without a record, E is not evaluable: both non-responders.
    assert (m1.itt_denominator, m1.itt_responders) == (6, 2)
    assert m1.itt_rate == pytest.approx(2 / 6)
    assert m1.responders_outside_itt == 0
    assert [r.visit for r in results] == ["month1", "month3"]


def test_responder_outside_itt_is_reported_not_counted():
    m3 = _by(pain_response_rates(ADRESP, itt_population=ITT), "all", "month3")
    assert m3.evaluable_rate == pytest.approx(2 / 2)  # A and G among evaluable
    assert (m3.itt_denominator, m3.itt_responders, m3.responders_outside_itt) == (2, 1, 1)
    assert m3.itt_rate == pytest.approx(1 / 2)


def test_visit_without_itt_population_has_no_itt_rate():
    m1 = _by(pain_response_rates(ADRESP, itt_population={}), "all", "month1")
    assert m1.itt_denominator is None and m1.itt_rate is None
    assert m1.evaluable_rate == pytest.approx(0.5)


def test_rates_stratified_by_patients_frame():
    patients = pd.DataFrame({"study_id": list("ABCDEFG"), "modality": ["RFA", "RFA", "RFA", "cryo", "cryo", "cryo", "cryo"]})
    results = pain_response_rates(ADRESP, itt_population=ITT, patients=patients, strata_variables=["modality"])
    assert {r.stratum for r in results} == {"all", "modality=RFA", "modality=cryo"}
    rfa = _by(results, "modality=RFA", "month1")
    assert (rfa.evaluable, rfa.responders, rfa.itt_denominator) == (3, 2, 3)
    assert rfa.itt_rate == pytest.approx(2 / 3)
    cryo = _by(results, "modality=cryo", "month1")
    assert (cryo.evaluable, cryo.responders, cryo.itt_denominator) == (1, 0, 3)  # D; ITT D, E, F
    assert cryo.itt_rate == 0.0
    cryo3 = _by(results, "modality=cryo", "month3")
    assert (cryo3.itt_denominator, cryo3.itt_responders, cryo3.responders_outside_itt) == (0, 0, 1)
    assert cryo3.itt_rate is None


def test_recorded_response_is_kept_and_missing_is_classified():
    frame = _adresp([("A", "month1", 8, 0, 30, 30), ("B", "month1", 8, 0, 30, 30)])
    frame["response"] = ["indeterminate", None]  # e.g. adjudicated by a reviewer
    assert with_response(frame)["response"].tolist() == ["indeterminate", "CR"]
    rates = pain_response_rates(frame, itt_population={})[0]
    assert rates.counts["CR"] == 1 and rates.counts["indeterminate"] == 1


def test_unknown_recorded_category_raises():
    frame = _adresp([("A", "month1", 8, 0, 30, 30)])
    frame["response"] = ["great"]
    with pytest.raises(ValueError, match="unknown response"):
        with_response(frame)


def test_duplicate_visit_rows_raise():
    frame = pd.concat([ADRESP, ADRESP.iloc[[1]]])
    with pytest.raises(ValueError, match="more than one row"):
        pain_response_rates(frame, itt_population=ITT)


def test_to_dict_is_plain():
    d = _by(pain_response_rates(ADRESP, itt_population={}), "all", "month1").to_dict()
    assert d["itt_rate"] is None and isinstance(d["evaluable_rate"], float)
    assert not any(isinstance(v, float) and math.isnan(v) for v in d.values())


# Boundaries of the registry conventions at OMED values that binary floating point cannot represent
# (docs/domain.md §4). Each pair (B, O) sits exactly on a threshold where the float product fails:
# 0.75 × 9.6 = 7.199999999999999 < 7.2, 1.25 × 0.28 = 0.35000000000000003 > 0.35.
EXACT_REDUCTIONS = [(9.60, 7.20), (0.60, 0.45), (1.16, 0.87), (2.40, 1.80), (2.80, 2.10)]
EXACT_INCREASES = [(0.28, 0.35), (0.56, 0.70), (0.68, 0.85), (0.92, 1.15), (1.12, 1.40)]


@pytest.mark.parametrize(("b", "o"), EXACT_REDUCTIONS)
def test_reduction_of_exactly_25_percent_is_exact(b, o):
    assert not o <= 0.75 * b or (b, o) == (2.40, 1.80)  # the float rule misses most of them
    assert pain_response_classify(7, 7, b, o) == "PR"  # ΔP 0 with O = 0.75·B
    assert pain_response_classify(7, 7, b, round(o + 0.01, 2)) == "indeterminate"  # reduction just under 25%
    assert pain_response_classify(7, 8, b, o) == "indeterminate"  # reduction with pain up: not PR
    frame = pd.DataFrame(
        {"worst_pain_baseline": [7, 7], "worst_pain": [7, 7], "omed_baseline": [b, b], "omed": [o, round(o + 0.01, 2)]}
    )
    assert list(pain_response_classify_frame(frame)) == ["PR", "indeterminate"]


@pytest.mark.parametrize(("b", "o"), EXACT_INCREASES)
def test_increase_of_exactly_25_percent_is_exact(b, o):
    for dp in (0, 1):  # pain stable or one point above baseline
        assert pain_response_classify(5, 5 + dp, b, o) == "PD"
        assert pain_response_classify(5, 5 + dp, b, round(o - 0.01, 2)) == "indeterminate"
    assert pain_response_classify(5, 7, b, o) == "PD"  # ΔP ≥ 2 with OMED up ≥ 25%
    assert pain_response_classify(5, 7, b, round(o - 0.01, 2)) == "PD"  # ΔP ≥ 2 with stable OMED
    assert pain_response_classify(7, 5, b, round(b + 0.01, 2)) == "indeterminate"  # ΔP −2 with any increase: not PR
    assert pain_response_classify(7, 5, b, b) == "PR"


def test_from_zero_any_hundredth_is_an_increase():
    assert pain_response_classify(5, 5, 0, 0.01) == "PD"  # B = 0: O > 0 is a ≥ 25% increase
    assert pain_response_classify(5, 5, 0, 0) == "indeterminate"
    assert pain_response_classify(5, 0, 0, 0.01) == "indeterminate"  # P 0 with analgesic up: neither CR nor PR nor PD
