"""Patient-reported outcomes (issue 15): pain source in ADRESP, unreviewed patient opioid answers left out of OMED,
completion by source and response by source (hand counts; Wilson limits from R ``prop.test(correct = FALSE)``)."""

from __future__ import annotations

import math
from dataclasses import replace

import pandas as pd
import pytest

from analytics.derive import analysis_sets_build
from analytics.parameters import parameters_parse
from analytics.stats.pro import pro_completion, response_rates_by_source, wilson_interval
from tests.analytics.test_derive import BASE, snapshot


def with_sources(snap, pain_sources: dict[tuple[str, str], str], opioid: dict[tuple[str, str], tuple[str, bool]]):
    """Stamp the snapshot's pain rows with a source and visits with an opioid source and review flag."""
    pain = snap.pain.assign(source=[pain_sources.get((r.study_id, r.visit), "staff") for r in snap.pain.itertuples()])
    keys = list(zip(snap.visits["study_id"], snap.visits["visit"], strict=True))
    visits = snap.visits.assign(
        opioid_source=[opioid.get(k, ("staff", False))[0] for k in keys],
        opioid_reviewed=[opioid.get(k, ("staff", False))[1] for k in keys],
    )
    return replace(snap, pain=pain, visits=visits)


def sets_of(snap, visits=("month1",)):
    return analysis_sets_build(snap, parameters_parse({"visits": list(visits)}))


def test_adresp_records_the_source_of_each_pain_value_and_unreviewed_patient_opioids_are_not_omed():
    snap = snapshot({"A-1": {"visits": BASE}, "A-2": {"visits": BASE}, "A-3": {"visits": {"baseline": BASE["baseline"]}}})
    snap = with_sources(
        snap,
        {("A-1", "month1"): "patient", ("A-2", "month1"): "patient"},
        {("A-1", "month1"): ("patient", False), ("A-2", "month1"): ("patient", True)},
    )
    adresp = sets_of(snap).adresp.set_index("study_id")
    assert adresp.loc["A-1", "pain_source"] == "patient" and adresp.loc["A-2", "pain_source"] == "patient"
    assert pd.isna(adresp.loc["A-3", "pain_source"])  # in the ITT population, no pain recorded: no source
    # A-1's self-reported 40 MME/day is not reviewed: OMED missing, response not evaluable; A-2's is reviewed: PR.
    assert math.isnan(adresp.loc["A-1", "omed"]) and adresp.loc["A-1", "response"] == "not_evaluable"
    assert adresp.loc["A-2", "omed"] == 40.0 and adresp.loc["A-2", "response"] == "PR"


def test_completion_by_source_hand_count():
    adresp = pd.DataFrame(
        {
            "study_id": ["A", "B", "C", "D", "E"],
            "visit": ["week1"] * 5,
            "worst_pain_baseline": [8.0] * 5,
            "worst_pain": [3.0, 4.0, 9.0, None, 2.0],
            "omed_baseline": [0.0] * 5,
            "omed": [0.0, 0.0, 0.0, None, 0.0],
            "pain_source": ["patient", "patient", "staff", None, "staff"],
        }
    )
    (week1,) = pro_completion(adresp)
    assert (week1.expected, week1.received, week1.received_by_source) == (5, 4, {"patient": 2, "staff": 2})
    assert week1.completion_rate == pytest.approx(0.8)
    assert week1.completion_rate_by_source == {"patient": pytest.approx(0.4), "staff": pytest.approx(0.4)}
    by_source = {r.source: r for r in response_rates_by_source(adresp)}
    # patient: A (8→3, PR) and B (8→4, PR): 2/2; staff: C (8→9, indeterminate), E (8→2, PR): 1/2.
    assert (by_source["patient"].responders, by_source["patient"].evaluable) == (2, 2)
    assert (by_source["staff"].responders, by_source["staff"].evaluable, by_source["staff"].n_records) == (1, 2, 2)
    assert by_source["staff"].evaluable_rate == pytest.approx(0.5)


def test_wilson_interval_matches_r_prop_test():
    # R (Rscript here): prop.test(3, 5, correct = FALSE)$conf.int → 0.2307242813 0.8823792258
    assert wilson_interval(3, 5) == pytest.approx((0.2307242813, 0.8823792258), abs=1e-9)
    # prop.test(1, 2, correct = FALSE)$conf.int → 0.09453120573 0.90546879427
    assert wilson_interval(1, 2) == pytest.approx((0.09453120573, 0.90546879427), abs=1e-9)
    assert wilson_interval(0, 0) == (None, None)


def test_report_numbers_carry_the_pro_sections():
    from analytics.compute import numbers_compute

    snap = snapshot({"A-1": {"visits": BASE}, "A-2": {"visits": BASE}})
    snap = with_sources(snap, {("A-1", "month1"): "patient"}, {("A-1", "month1"): ("patient", True)})
    params = parameters_parse({"visits": ["month1"]})
    numbers = numbers_compute(analysis_sets_build(snap, params), params, fingerprint="x")
    month1 = numbers["pro_completion"]["month1"]
    assert (month1["expected"], month1["received"], month1["received_by_source"]) == (2, 2, {"patient": 1, "staff": 1})
    assert numbers["pain_response_by_source"]["month1"]["patient"]["evaluable"] == 1
