"""Complication counts and per-patient rates (docs/domain.md §7), by hand."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from analytics.stats import complication_summaries
from analytics.stats.complications import clopper_pearson

PATIENTS = pd.DataFrame({"study_id": ["P1", "P2", "P3", "P4", "P5"], "modality": ["RFA", "RFA", "RFA", "cryo", "cryo"]})
AES = pd.DataFrame(
    [
        ("P1", "mild", 1, "procedure", False),
        ("P1", "severe", 3, "procedure", True),
        ("P2", "moderate", 2, "cement_implant", False),
        ("P4", "life_threatening", 4, "radiation", True),
        ("P4", "death", 5, "disease_progression", True),
        ("P9", "mild", 1, "unrelated", False),  # not a registry patient
    ],
    columns=["study_id", "sir_grade", "ctcae_grade", "relatedness", "serious"],
)


def _count(summary, dimension, category):
    return next(c for c in summary.counts if c.dimension == dimension and c.category == category)


def _summary(stratum):
    return next(s for s in complication_summaries(AES, PATIENTS, strata_variables=["modality"]) if s.stratum == stratum)


def test_whole_cohort_counts():
    s = _summary("all")
    assert (s.n_patients, s.n_events, s.events_outside_denominator) == (5, 5, 1)
    any_ = _count(s, "any", "any")
    assert (any_.patients, any_.events) == (3, 5)  # P1, P2, P4
    assert any_.patient_rate == pytest.approx(3 / 5)
    for grade in ("mild", "moderate", "severe", "life_threatening", "death"):
        c = _count(s, "sir_grade", grade)
        assert (c.patients, c.events) == (1, 1), grade  # P9's mild event is excluded
    severe = _count(s, "ctcae_grade", ">=3")
    assert (severe.patients, severe.events) == (2, 3)  # P1 grade 3; P4 grades 4 and 5
    assert severe.patient_rate == pytest.approx(2 / 5)
    assert (_count(s, "ctcae_grade", "1").events, _count(s, "ctcae_grade", "5").events) == (1, 1)
    procedure = _count(s, "relatedness", "procedure")
    assert (procedure.patients, procedure.events) == (1, 2)
    assert _count(s, "relatedness", "unrelated").events == 0
    serious = _count(s, "serious", "yes")
    assert (serious.patients, serious.events) == (2, 3)


def test_strata_use_patient_denominators():
    rfa = _summary("modality=RFA")
    assert rfa.n_patients == 3
    assert _count(rfa, "any", "any").patient_rate == pytest.approx(2 / 3)
    assert (_count(rfa, "ctcae_grade", ">=3").patients, _count(rfa, "ctcae_grade", ">=3").events) == (1, 1)
    cryo = _summary("modality=cryo")
    assert cryo.n_patients == 2 and cryo.n_events == 2
    grade3 = _count(cryo, "ctcae_grade", ">=3")
    assert (grade3.patients, grade3.events, grade3.patient_rate) == (1, 2, 0.5)


def test_no_events_gives_zero_rates_and_json():
    s = complication_summaries(AES.iloc[0:0], PATIENTS, strata_variables=[])[0]
    assert s.n_events == 0 and all(c.patients == 0 and c.patient_rate == 0.0 for c in s.counts)
    json.dumps(s.to_dict(), allow_nan=False)


def test_missing_column_raises():
    with pytest.raises(ValueError, match="relatedness"):
        complication_summaries(AES.drop(columns=["relatedness"]), PATIENTS)


# R binom.test(k, n)$conf.int (R 4.2.2), printed by tests/analytics/r_oracle/degenerate.R.
R_BINOM = {
    (0, 5): (0.0, 0.521823750104981),
    (1, 5): (0.00505076337946806, 0.716417936118089),
    (3, 5): (0.146632799634673, 0.947255049473683),
    (5, 5): (0.478176249895019, 1.0),
    (1, 1): (0.025, 1.0),
    (2, 3): (0.0942993240502461, 0.991596241340387),
    (7, 19): (0.1628858721551, 0.616422076685595),
}


@pytest.mark.parametrize(("k_n", "expected"), list(R_BINOM.items()))
def test_clopper_pearson_matches_binom_test(k_n, expected):
    assert clopper_pearson(*k_n) == pytest.approx(expected, abs=1e-12)


def test_every_rate_carries_its_exact_ci_per_stratum():
    s = _summary("all")
    any_ = _count(s, "any", "any")  # 3 of 5
    assert (any_.ci_low, any_.ci_high) == pytest.approx(R_BINOM[(3, 5)], abs=1e-12)
    assert (_count(s, "relatedness", "unrelated").ci_low, _count(s, "relatedness", "unrelated").ci_high) == pytest.approx(
        R_BINOM[(0, 5)]
    )
    rfa = _summary("modality=RFA")
    assert (_count(rfa, "any", "any").ci_low, _count(rfa, "any", "any").ci_high) == pytest.approx(R_BINOM[(2, 3)])
    assert s.ci_method.startswith("Clopper–Pearson")
    assert clopper_pearson(0, 0) == (None, None)
    empty = complication_summaries(AES, PATIENTS.iloc[0:0], strata_variables=[])[0]
    assert all(c.ci_low is None and c.ci_high is None and c.patient_rate is None for c in empty.counts)


def test_serious_events_are_listed_per_stratum_without_free_text():
    aes = AES.assign(onset_day=[1, 3, 2, 10, 40, 5], resolution_day=[5, None, None, 30, None, None], term="Hematoma")
    s = _summary_of(aes, "all")
    assert [(e.study_id, e.onset_day, e.sir_grade, e.ctcae_grade, e.relatedness, e.resolution_day) for e in s.serious_events] == [
        ("P1", 3, "severe", 3, "procedure", None),
        ("P4", 10, "life_threatening", 4, "radiation", 30),
        ("P4", 40, "death", 5, "disease_progression", None),
    ]
    assert [e.study_id for e in _summary_of(aes, "modality=RFA").serious_events] == ["P1"]
    assert "Hematoma" not in json.dumps(s.to_dict())


def _summary_of(aes, stratum):
    return next(s for s in complication_summaries(aes, PATIENTS, strata_variables=["modality"]) if s.stratum == stratum)
