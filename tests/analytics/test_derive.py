"""adtte / adresp / pain frame construction from hand-built snapshots (no database).

Day 0 of every patient is 2026-01-01; each case names the docs/domain.md rule it pins.
"""

from __future__ import annotations

import math

import pandas as pd
import pytest

from analytics.dataset import Snapshot
from analytics.derive import analysis_sets_build, interference_scores
from analytics.parameters import parameters_parse

DAY0 = pd.Timestamp("2026-01-01")
VISIT_DAYS = {"baseline": -2, "day3": 3, "week1": 7, "month1": 30, "month3": 90, "month6": 180, "month12": 365}
TARGET_DAYS = {"baseline": 0, "day3": 3, "week1": 7, "month1": 30, "month3": 90, "month6": 180, "month12": 365}


def day(n: int) -> pd.Timestamp:
    return DAY0 + pd.Timedelta(days=n)


def frame(rows: list[dict], columns: list[str]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=columns)


def snapshot(patients: dict[str, dict], *, sres=(), exits=(), radiation=(), aes=()) -> Snapshot:
    """``patients``: study_id → {"visits": {code: (worst, omed_status, mme)}} (visits with data)."""
    visits, pain, meds = [], [], []
    for sid, spec in patients.items():
        for code, target in TARGET_DAYS.items():
            data = spec.get("visits", {}).get(code)
            visits.append(
                {
                    "study_id": sid,
                    "visit": code,
                    "target_date": day(target),
                    "visit_date": day(VISIT_DAYS[code]) if data else pd.NaT,
                    "opioid_status": data[1] if data else "unknown",
                    "version": 1,
                }
            )
            if data:
                pain.append(
                    {
                        "study_id": sid,
                        "visit": code,
                        "worst": data[0],
                        "average": data[0],
                        "general_activity": 5,
                        "mood": 5,
                        "walking_ability": 5,
                        "normal_work": 5,
                        "relations": None,
                        "sleep": None,
                        "enjoyment_of_life": None,
                    }
                )
                if data[1] == "taking":
                    meds.append({"study_id": sid, "visit": code, "mme_per_day": data[2]})
    return Snapshot(
        patients=frame(
            [
                {
                    "study_id": s,
                    "site": "ATL",
                    "birth_year": 1960,
                    "sex": "F",
                    "histology": "breast",
                    "ecog": 1,
                    "enrollment_date": DAY0 - pd.Timedelta(days=5),
                    "day0": DAY0,
                    "version": 1,
                }
                for s in patients
            ],
            ["study_id", "site", "birth_year", "sex", "histology", "ecog", "enrollment_date", "day0", "version"],
        ),
        lesions=frame([{"study_id": s, "region": "spine"} for s in patients], ["study_id", "region"]),
        procedures=frame(
            [{"study_id": s, "procedure_date": DAY0, "modality": "RFA", "augmentation": "cement"} for s in patients],
            ["study_id", "procedure_date", "modality", "augmentation"],
        ),
        radiation=frame(list(radiation), ["study_id", "sequence", "start_date", "end_date"]),
        visits=frame(visits, ["study_id", "visit", "target_date", "visit_date", "opioid_status", "version"]),
        pain=frame(
            pain,
            [
                "study_id",
                "visit",
                "worst",
                "average",
                "general_activity",
                "mood",
                "walking_ability",
                "normal_work",
                "relations",
                "sleep",
                "enjoyment_of_life",
            ],
        ),
        medications=frame(meds, ["study_id", "visit", "mme_per_day"]),
        adverse_events=frame(list(aes), ["study_id", "onset_date", "sir_grade", "ctcae_grade", "relatedness", "serious"]),
        skeletal_events=frame(list(sres), ["study_id", "event_type", "event_date"]),
        exits=frame(list(exits), ["study_id", "exit_type", "exit_date", "last_contact_date"]),
    )


def adtte_of(snap: Snapshot, **params) -> pd.DataFrame:
    return analysis_sets_build(snap, parameters_parse(params)).adtte.set_index("study_id")


BASE = {"baseline": (8, "taking", 40.0), "month1": (4, "taking", 40.0)}


def test_withdrawal_censors_both_endpoints_at_last_contact_not_exit():
    snap = snapshot(
        {"A-1": {"visits": BASE}},
        exits=[{"study_id": "A-1", "exit_type": "withdrawal", "exit_date": day(60), "last_contact_date": day(45)}],
    )
    row = adtte_of(snap).loc["A-1"]
    assert (row.sre_days, row.sre_event, row.os_days, row.os_event) == (45, 0, 45, 0)


def test_death_without_sre_is_the_competing_event_and_an_os_event():
    snap = snapshot(
        {"A-1": {"visits": BASE}},
        exits=[{"study_id": "A-1", "exit_type": "death", "exit_date": day(100), "last_contact_date": day(100)}],
    )
    row = adtte_of(snap).loc["A-1"]
    assert (row.sre_days, row.sre_event, row.os_days, row.os_event) == (100, 2, 100, 1)


def test_first_sre_counts_even_when_death_follows():
    snap = snapshot(
        {"A-1": {"visits": BASE}},
        sres=[
            {"study_id": "A-1", "event_type": "surgery_to_bone", "event_date": day(80)},
            {"study_id": "A-1", "event_type": "pathologic_fracture", "event_date": day(50)},
        ],
        exits=[{"study_id": "A-1", "exit_type": "death", "exit_date": day(100), "last_contact_date": day(100)}],
    )
    row = adtte_of(snap).loc["A-1"]
    assert (row.sre_days, row.sre_event, row.os_days, row.os_event) == (50, 1, 100, 1)


def test_ongoing_patient_is_censored_at_the_latest_contact():
    snap = snapshot({"A-1": {"visits": BASE}, "A-2": {"visits": {**BASE, "month3": (3, "none", 0)}}})
    adtte = adtte_of(snap)
    assert (adtte.loc["A-1", "sre_days"], adtte.loc["A-1", "sre_event"]) == (30, 0)
    assert (adtte.loc["A-2", "os_days"], adtte.loc["A-2", "os_event"]) == (90, 0)


def test_planned_radiation_is_never_an_sre_but_unplanned_radiation_is():
    course = {"study_id": "A-1", "sequence": "after", "start_date": day(10), "end_date": day(14)}
    planned = snapshot(
        {"A-1": {"visits": BASE}},
        radiation=[course],
        sres=[{"study_id": "A-1", "event_type": "radiation_to_bone", "event_date": day(12)}],
    )
    assert adtte_of(planned).loc["A-1", "sre_event"] == 0
    unplanned = snapshot(
        {"A-1": {"visits": BASE}},
        radiation=[course],
        sres=[{"study_id": "A-1", "event_type": "radiation_to_bone", "event_date": day(20)}],
    )
    assert tuple(adtte_of(unplanned).loc["A-1", ["sre_days", "sre_event"]]) == (20, 1)


def test_hypercalcaemia_counts_only_when_the_run_switches_it_on():
    snap = snapshot({"A-1": {"visits": BASE}}, sres=[{"study_id": "A-1", "event_type": "hypercalcaemia", "event_date": day(15)}])
    assert adtte_of(snap).loc["A-1", "sre_event"] == 0
    assert tuple(adtte_of(snap, include_hypercalcaemia=True).loc["A-1", ["sre_days", "sre_event"]]) == (15, 1)


def test_sre_before_day0_is_not_an_outcome():
    snap = snapshot(
        {"A-1": {"visits": BASE}}, sres=[{"study_id": "A-1", "event_type": "pathologic_fracture", "event_date": day(-3)}]
    )
    assert adtte_of(snap).loc["A-1", "sre_event"] == 0


def test_itt_population_is_alive_and_on_study_at_the_target_day_before_the_cutoff():
    # A-1 has month3 data (cut-off = day 90); A-2 dies on day 20; A-3 withdraws on day 95 after the month3 target.
    snap = snapshot(
        {
            "A-1": {"visits": {**BASE, "month3": (2, "none", 0)}},
            "A-2": {"visits": {"baseline": BASE["baseline"]}},
            "A-3": {"visits": BASE},
        },
        exits=[
            {"study_id": "A-2", "exit_type": "death", "exit_date": day(20), "last_contact_date": day(20)},
            {"study_id": "A-3", "exit_type": "withdrawal", "exit_date": day(95), "last_contact_date": day(30)},
        ],
    )
    sets = analysis_sets_build(snap, parameters_parse({}))
    assert sets.itt_population["day3"] == ["A-1", "A-2", "A-3"]
    assert sets.itt_population["month1"] == ["A-1", "A-3"]  # A-2 died on day 20
    # Cut-off = latest recorded date = A-3's exit on day 95: month3 (day 90) is reached, month6 (day 180) is not.
    assert sets.itt_population["month3"] == ["A-1", "A-3"]
    assert sets.itt_population["month6"] == []


def test_adresp_has_one_row_per_itt_patient_and_visit_with_the_response():
    snap = snapshot(
        {"A-1": {"visits": {**BASE, "month3": (2, "none", 0)}}, "A-3": {"visits": BASE}},
        exits=[{"study_id": "A-3", "exit_type": "withdrawal", "exit_date": day(95), "last_contact_date": day(30)}],
    )
    adresp = analysis_sets_build(snap, parameters_parse({"visits": ["month1", "month3"]})).adresp
    assert list(adresp.columns) == [
        "study_id",
        "visit",
        "worst_pain_baseline",
        "worst_pain",
        "omed_baseline",
        "omed",
        "response",
        "pain_source",
    ]
    rows = {(r.study_id, r.visit): r for r in adresp.itertuples()}
    assert set(rows) == {("A-1", "month1"), ("A-1", "month3"), ("A-3", "month1"), ("A-3", "month3")}
    # ΔP = 4 − 8 = −4 with OMED unchanged (40 → 40): PR (docs/domain.md §4).
    assert rows[("A-1", "month1")].response == "PR"
    # P = 2, OMED 40 → 0: ΔP −6 without analgesic increase: PR (P ≠ 0, so not CR).
    assert (rows[("A-1", "month3")].omed, rows[("A-1", "month3")].response) == (0.0, "PR")
    # In the ITT population without data at month 3: not evaluable.
    assert math.isnan(rows[("A-3", "month3")].worst_pain)
    assert rows[("A-3", "month3")].response == "not_evaluable"


def test_pain_frame_rows_are_visits_with_data_and_carry_omed_and_strata():
    snap = snapshot({"A-1": {"visits": {"baseline": (8, "taking", 40.0), "day3": (6, "none", 0), "week1": (5, "unknown", 0)}}})
    pain = analysis_sets_build(snap, parameters_parse({})).pain.set_index("visit")
    assert list(pain.index) == ["baseline", "day3", "week1"]
    assert pain.loc["baseline", "omed"] == 40.0 and pain.loc["day3", "omed"] == 0.0
    assert math.isnan(pain.loc["week1", "omed"])
    assert (pain.loc["baseline", "modality"], pain.loc["baseline", "radiation_sequence"]) == ("RFA", "none")


@pytest.mark.parametrize(
    ("items", "expected"),
    [
        ([5, 5, 5, 5, None, None, None], 5.0),  # 4 of 7 answered: the mean of the answered
        ([1, 2, 3, 4, 5, 6, 7], 4.0),
        ([5, 5, 5, None, None, None, None], None),  # 3 of 7: missing (docs/domain.md §3)
    ],
)
def test_interference_score_needs_four_of_seven_items(items, expected):
    columns = ["general_activity", "mood", "walking_ability", "normal_work", "relations", "sleep", "enjoyment_of_life"]
    score = interference_scores(pd.DataFrame([items], columns=columns)).iloc[0]
    assert math.isnan(score) if expected is None else score == expected


def test_interference_score_is_the_row_mean_of_the_answered_items_bit_for_bit():
    """Issue 17 (worker memory): the score is accumulated an item at a time; it equals the mean of the answered items
    over rows with ≥ 4 of 7 answered (docs/domain.md §3) exactly as the row mean of the seven columns gave it."""
    import numpy as np
    import pandas as pd

    from analytics.derive import interference_scores
    from trials.domain.bpi import INTERFERENCE_ITEMS

    rng = np.random.default_rng(7)
    n = 20_000
    items = {c: np.where(rng.random(n) < 0.35, np.nan, rng.integers(0, 11, n)).astype(np.float32) for c in INTERFERENCE_ITEMS}
    pain = pd.DataFrame(items)
    wide = pain.astype(float)
    expected = wide.mean(axis=1).where(wide.notna().sum(axis=1) >= 4)
    assert np.array_equal(interference_scores(pain).to_numpy(), expected.to_numpy(), equal_nan=True)
    hand = pd.DataFrame([[1, 2, 3, 4, None, None, None], [1, 2, 3, None, None, None, None]], columns=list(INTERFERENCE_ITEMS))
    assert interference_scores(hand).tolist()[0] == 2.5 and np.isnan(interference_scores(hand).tolist()[1])
