"""Complication counts and per-patient rates (docs/domain.md §7), by hand."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from analytics.stats import complication_summaries

PATIENTS = pd.DataFrame(
    {"study_id": ["P1", "P2", "P3", "P4", "P5"], "modality": ["RFA", "RFA", "RFA", "cryo", "cryo"]}
)
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
