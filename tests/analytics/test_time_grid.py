"""Issue 12: with long follow-up the OS/SRE curves and at-risk tables span the whole follow-up
(result.json ``time_grid``), not 400/365 days."""

from __future__ import annotations

import pytest

from analytics import stats
from analytics.compute import curves_section
from analytics.time_grid import grid_days, time_grid_section
from tests.analytics.r_oracle.cohort import adtte_frame


@pytest.mark.parametrize(
    ("longest", "expected"),
    [
        (0, [0]),
        (3, [0, 30]),
        (360, list(range(0, 361, 30))),  # 12 intervals of 30 days
        (365, list(range(0, 421, 60))),  # one day more: 60-day ticks to 420
        (400, list(range(0, 421, 60))),
        (3650, list(range(0, 3651, 365))),  # ten years: yearly ticks to 3650
        (10000, list(range(0, 10951, 1095))),  # beyond 12 years: whole multiples of a year
    ],
)
def test_grid_days_cover_the_longest_follow_up(longest, expected):
    days = grid_days(longest)
    assert days == expected
    assert days[0] == 0 and days[-1] >= longest and len(days) <= 13


def test_ten_year_follow_up_grid_reaches_the_end_with_at_risk_and_estimates():
    frame = adtte_frame()
    for column in ("sre_days", "os_days"):
        frame[column] = frame[column] * 10  # follow-up to ~10 years
    km = stats.overall_survival(frame, strata_variables=("modality",))
    grid = time_grid_section(frame, curves_section(km, "km"), "km", "os", ("modality",), start=1.0)
    longest = float(frame["os_days"].max())
    assert grid["max_follow_up_days"] == longest and longest > 3650
    assert grid["days"][-1] >= longest and grid["days"][1] - grid["days"][0] == 365
    all_at_risk = grid["at_risk"]["all"]
    assert all_at_risk[0] == 40 and all_at_risk == sorted(all_at_risk, reverse=True)
    assert all_at_risk[5] == int((frame["os_days"] >= grid["days"][5]).sum())
    estimate = grid["estimate"]["all"]
    assert estimate[0] == 1.0 and estimate[-1] is None  # past the last follow-up
    # The grid value at 3650 days is the KM step value there (same as a landmark at that day).
    at_3650 = stats.overall_survival(frame, strata_variables=(), landmarks=(3650,))[0].landmarks[0].estimate
    assert estimate[grid["days"].index(3650)] == pytest.approx(at_3650)
    assert set(grid["at_risk"]) == {"all", "modality=MWA", "modality=RFA", "modality=cryo"}
    cif = stats.sre_cumulative_incidence(frame, strata_variables=())
    sre = time_grid_section(frame, curves_section(cif, "cumulative_incidence"), "cumulative_incidence", "sre", (), start=0.0)
    assert sre["estimate"]["all"][0] == 0.0 and all(0 <= v <= 1 for v in sre["estimate"]["all"] if v is not None)


@pytest.mark.parametrize(
    ("endpoint", "curves_key", "start"), [("sre", "cumulative_incidence", 0.0), ("os", "km", 1.0)], ids=["sre", "os"]
)
def test_a_not_estimable_stratum_is_null_at_every_tick_an_event_free_one_keeps_its_start(endpoint, curves_key, start):
    """A stratum whose curve has a ``skipped_reason`` (no points, yet patients: the LTP curves' "no LTP observed")
    has at-risk counts but a null estimate at every tick, never the curve's start value 0 or 1. The SRE / OS
    curves skip only a stratum without patients, which the grid already shows as null; an estimable stratum
    without events keeps its start value (the Aalen–Johansen estimate is 0 there, Kaplan–Meier 1)."""
    frame = adtte_frame()
    mwa = frame["modality"] == "MWA"
    frame.loc[mwa, [f"{endpoint}_event"]] = 0  # no event in the MWA stratum: an estimable, flat curve
    fit = stats.sre_cumulative_incidence if endpoint == "sre" else stats.overall_survival
    section = curves_section(fit(frame, strata_variables=("modality",)), curves_key)
    assert section[curves_key]["modality=MWA"] == [] and section["curves"]["modality=MWA"]["skipped_reason"] is None
    grid = time_grid_section(frame, section, curves_key, endpoint, ("modality",), start=start)
    flat = grid["estimate"]["modality=MWA"]
    assert {value for value in flat if value is not None} == {start} and flat[0] == start
    # the same stratum, not estimable (as analytics.stats.local_control marks an LTP curve without LTP)
    section["curves"]["modality=MWA"]["skipped_reason"] = "not estimable: no event observed"
    grid = time_grid_section(frame, section, curves_key, endpoint, ("modality",), start=start)
    assert grid["estimate"]["modality=MWA"] == [None] * len(grid["days"])
    assert grid["at_risk"]["modality=MWA"][0] == int(mwa.sum()) > 0  # the numbers at risk are kept
    assert grid["estimate"]["all"][0] == start  # the other strata are untouched
