"""Result serialisation and the stratum helper."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd

from analytics.stats import (
    iter_strata,
    overall_survival,
    pain_visit_summaries,
    sre_cumulative_incidence,
    sre_one_minus_km,
)
from analytics.stats.results import CurvePoint, plain
from tests.analytics.r_oracle.cohort import adtte_frame


def test_plain_converts_numpy_and_nan():
    value = {"a": np.int64(3), "b": np.float64("nan"), "c": (np.float32(1.5), float("inf")), "d": np.bool_(True), "e": pd.NA}
    assert plain(value) == {"a": 3, "b": None, "c": [1.5, None], "d": True, "e": None}
    assert type(plain(np.int64(3))) is int and type(plain(np.float64(2.0))) is float


def test_to_dict_of_a_point_has_the_contract_keys():
    point = CurvePoint(day=np.float64(30), estimate=np.float64(0.5), ci_low=float("nan"), ci_high=None, at_risk=np.int64(4))
    assert point.to_dict() == {"day": 30.0, "estimate": 0.5, "ci_low": None, "ci_high": None, "at_risk": 4}


def test_every_curve_is_strict_json():
    adtte = adtte_frame()
    curves = overall_survival(adtte) + sre_one_minus_km(adtte) + sre_cumulative_incidence(adtte)
    text = json.dumps([c.to_dict() for c in curves], allow_nan=False)
    decoded = json.loads(text)
    assert {tuple(p) for c in decoded for p in c["points"]} == {("day", "estimate", "ci_low", "ci_high", "at_risk")}


def test_iter_strata_keys_and_missing_values():
    frame = pd.DataFrame({"study_id": list("ABCD"), "modality": ["RFA", "cryo", None, "RFA"], "x": [1, 2, 3, 4]})
    pairs = list(iter_strata(frame, ["modality", "absent"]))
    assert [k for k, _ in pairs] == ["all", "modality=RFA", "modality=cryo"]
    assert [len(sub) for _, sub in pairs] == [4, 2, 1]  # C (missing modality) only in "all"


def test_descriptive_results_serialise_without_nan():
    pain = pd.DataFrame(
        {
            "study_id": ["A", "A"],
            "visit": ["baseline", "month1"],
            "worst": [8, math.nan],
            "average": [5, 4],
            "interference": [math.nan, math.nan],
            "omed": [0, 0],
        }
    )
    payload = [r.to_dict() for r in pain_visit_summaries(pain, strata_variables=[])]
    json.dumps(payload, allow_nan=False)


def test_plain_fast_path_gives_the_general_rules_values():
    """``plain`` dispatches on exact types (issue 17, compute CPU); subclasses and numpy scalars take the general
    rules — both give the same values, and a dataclass inside containers is converted field by field."""

    class Label(str):
        pass

    class Count(int):
        pass

    point = CurvePoint(day=1.0, estimate=float("-inf"), ci_low=np.float32(0.25), ci_high=None, at_risk=Count(2))
    value = {1: [point, (True, np.bool_(False))], "x": Label("a"), "y": {"z": [float("nan"), 0.5, np.int8(-1)]}}
    converted = plain(value)
    assert converted == {
        "1": [{"day": 1.0, "estimate": None, "ci_low": 0.25, "ci_high": None, "at_risk": 2}, [True, False]],
        "x": "a",
        "y": {"z": [None, 0.5, -1]},
    }
    assert type(converted["1"][0]["at_risk"]) is int and type(converted["y"]["z"][2]) is int
    assert json.dumps(converted, allow_nan=False)
