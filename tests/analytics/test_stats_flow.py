"""Patient flow and per-visit completion, checked against counts worked out by hand."""

from __future__ import annotations

import pandas as pd
import pytest

from analytics.stats.flow import VISIT_OUTCOMES, patient_flow

T = pd.Timestamp
CUTOFF = T("2026-06-30")


def _frames():
    # P1 on study; P2 died on day 45; P3 withdrew on day 19; P4 enrolled, never treated.
    enrolment = pd.DataFrame(
        {
            "study_id": ["P1", "P2", "P3", "P4"],
            "treated": [True, True, True, False],
            "day0": [T("2026-01-01"), T("2026-01-01"), T("2026-03-01"), pd.NaT],
            "exit_type": [None, "death", "withdrawal", None],
            "exit_date": [pd.NaT, T("2026-02-15"), T("2026-03-20"), pd.NaT],
        }
    )
    pain = pd.DataFrame(
        {  # recorded visits; P1's month-3 visit has no worst pain (BPI not done)
            "study_id": ["P1", "P1", "P1", "P2"],
            "visit": ["baseline", "month1", "month3", "baseline"],
            "worst": [7.0, 4.0, float("nan"), 8.0],
        }
    )
    adresp = pd.DataFrame(
        {  # the ITT rows derive builds for these patients
            "study_id": ["P1", "P2", "P1", "P1"],
            "visit": ["month1", "month1", "month3", "month6"],
            "response": ["PR", "not_evaluable", "not_evaluable", "not_evaluable"],
        }
    )
    return enrolment, pain, adresp


def test_flow_counts_match_the_hand_count():
    not_done = pd.DataFrame({"study_id": ["P2"], "visit": ["week1"]})  # P2's week-1 visit recorded as not done
    flow = patient_flow(
        *_frames(), visits=("week1", "month1", "month3", "month6", "month12"), cutoff=CUTOFF, not_done=not_done
    ).to_dict()
    assert (flow["enrolled"], flow["not_treated"], flow["treated"], flow["deaths"]) == (4, 1, 3, 1)
    assert flow["exits"] == {"death": 1, "on_study": 1, "withdrawal": 1}
    by_visit = {v["visit"]: v for v in flow["visits"]}
    assert list(by_visit) == ["baseline", "week1", "month1", "month3", "month6", "month12"]
    expected = {  # visit: (expected, received, not_done, missed, window_open, died, other exit, not yet due, analysed)
        "baseline": (3, 2, 0, 1, 0, 0, 0, 0, None),  # P3 has no baseline and its window (day 0) has closed
        "week1": (3, 0, 0, 2, 0, 0, 0, 0, 0),  # P2 declared not done (below); P1 and P3 (withdrew day 19) missed it
        "month1": (2, 1, 0, 1, 0, 0, 1, 0, 1),  # P2 alive at day 30 without data: missed; P3 withdrew first
        "month3": (1, 0, 1, 0, 0, 1, 1, 0, 0),  # P1 came but worst pain is missing: not done
        "month6": (1, 0, 0, 0, 1, 1, 1, 0, 0),  # P1's day 180 is the cut-off, window open until day 210
        "month12": (0, 0, 0, 0, 0, 1, 1, 1, 0),
    }
    for visit, counts in expected.items():
        row = by_visit[visit]
        got = tuple(
            row[k]
            for k in (
                "expected",
                "received",
                "not_done",
                "missed",
                "window_open",
                "not_applicable_died",
                "not_applicable_exit",
                "not_yet_due",
                "analysed",
            )
        )
        assert got == counts, visit
        assert sum(row[k] for k in VISIT_OUTCOMES) == row["treated"] == 3  # every treated patient accounted for
    assert [by_visit[v]["visit_not_done"] for v in by_visit] == [0, 1, 0, 0, 0, 0]
    assert by_visit["month3"]["not_evaluable"] == 1 and by_visit["month1"]["completion_rate"] == pytest.approx(0.5)
    assert by_visit["month12"]["completion_rate"] is None


def test_flow_names_a_missing_column():
    enrolment, pain, adresp = _frames()
    with pytest.raises(ValueError, match="exit_date"):
        patient_flow(enrolment.drop(columns="exit_date"), pain, adresp, visits=("month1",), cutoff=CUTOFF)


def test_as_text_is_astype_str_with_one_string_per_category():
    from analytics.stats.strata import as_text

    values = pd.Series(
        pd.Categorical(["week1", None, "day3", "week1"] * 50, categories=["day3", "week1", "unused"]), index=range(3, 203)
    )
    text = as_text(values)
    pd.testing.assert_series_equal(text, values.astype(str))
    assert len({id(v) for v in text}) == 3  # "week1", "day3", "nan": shared, not one per row
    plain = pd.Series([1.5, None, 2.0])
    pd.testing.assert_series_equal(as_text(plain), plain.astype(str))
