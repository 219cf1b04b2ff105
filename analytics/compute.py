"""The compute stage: analysis sets → the numbers of result.json (pure, no ORM).

Every statistic comes from ``analytics.stats``; this module only arranges the
typed results into the result.json contract (issue 3):

- ``sre.cumulative_incidence.<stratum>`` / ``overall_survival.km.<stratum>``:
  lists of ``{"day", "estimate", "ci_low", "ci_high", "at_risk"}``;
- ``sre.at_days.<stratum>`` with keys ``"30", "90", "180", "365"``;
- ``pain_response.<visit>.<stratum>``: the five category counts,
  ``evaluable_rate`` and ``itt_rate``;
- ``sre.gray`` (issue 12): Gray's test of SRE cumulative incidence per stratification
  variable; every ``logrank`` entry carries its ``test`` label;
- ``time_to_response.<stratum>`` (issue 16): cumulative incidence of first pain response (CR/PR),
  death competing — ``cumulative_incidence`` (points as above), ``at_days`` with keys ``"3", "7", "30"``,
  ``median_days`` (None = not reached), counts, ``durability`` per later visit and a ``note``;
- ``sre.time_grid`` / ``overall_survival.time_grid`` (issue 12): ``days`` from 0
  past the longest follow-up, ``max_follow_up_days``, and per stratum
  ``at_risk`` and ``estimate`` at each of those days;

where ``<stratum>`` is ``all`` or ``<variable>=<value>``. No timestamps here:
the same analysis sets always give the same numbers.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np

from analytics import stats
from analytics.cohort import cohort_table
from analytics.derive import AnalysisSets
from analytics.parameters import RunParameters
from analytics.stats.flow import patient_flow
from analytics.stats.response import CATEGORIES
from analytics.stats.results import plain
from analytics.stats.risk_sets import endpoint_time_status
from analytics.stats.strata import iter_strata

CURVE_POINT_KEYS = ("day", "estimate", "ci_low", "ci_high", "at_risk")
OS_LOGRANK_LABEL = "log-rank (survdiff, rho = 0)"
SRE_LOGRANK_LABEL = (
    "cause-specific log-rank (deaths censored): compares SRE hazards, not cumulative incidence; "
    "see Gray's test for the cumulative incidence"
)


def _points(points: Iterable[Any]) -> list[dict[str, Any]]:
    return [{key: value for key, value in point.to_dict().items() if key in CURVE_POINT_KEYS} for point in points]


def _at_days(curve) -> dict[str, dict[str, Any]]:
    return {str(int(point.day)): {k: v for k, v in point.to_dict().items() if k != "day"} for point in curve.landmarks}


def _curve_meta(curve) -> dict[str, Any]:
    return {
        key: getattr(curve, key)
        for key in ("label", "method", "variance", "confidence_interval", "n", "events", "competing_events", "skipped_reason")
    }


def curves_section(curves, key: str) -> dict[str, Any]:
    return {
        key: {c.stratum: _points(c.points) for c in curves},
        "at_days": {c.stratum: _at_days(c) for c in curves},
        "curves": {c.stratum: _curve_meta(c) for c in curves},
    }


def sre_section(sets: AnalysisSets, strata: tuple[str, ...]) -> dict[str, Any]:
    """Aalen–Johansen CIF (death competing) and the labelled 1 − KM overestimate (docs/domain.md §6)."""
    cif = stats.sre_cumulative_incidence(sets.adtte, strata_variables=strata)
    section = curves_section(cif, "cumulative_incidence")
    section["time_grid"] = time_grid_section(sets.adtte, cif, "sre", strata, start=0.0)
    overestimate = curves_section(stats.sre_one_minus_km(sets.adtte, strata_variables=strata), "curve")
    section["one_minus_km"] = {"km": overestimate["curve"], "at_days": overestimate["at_days"], "curves": overestimate["curves"]}
    section["logrank"] = [
        {**r.to_dict(), "test": SRE_LOGRANK_LABEL}
        for r in stats.logrank_tests(sets.adtte, strata_variables=strata, endpoints=("sre",))
    ]
    section["gray"] = [r.to_dict() for r in stats.gray_tests(sets.adtte, strata_variables=strata)]
    section["cox"] = stats.cox_fit(sets.adtte, endpoint="sre").to_dict()
    return section


def os_section(sets: AnalysisSets, strata: tuple[str, ...]) -> dict[str, Any]:
    km = stats.overall_survival(sets.adtte, strata_variables=strata)
    section = curves_section(km, "km")
    section["time_grid"] = time_grid_section(sets.adtte, km, "os", strata, start=1.0)
    section["logrank"] = [
        {**r.to_dict(), "test": OS_LOGRANK_LABEL}
        for r in stats.logrank_tests(sets.adtte, strata_variables=strata, endpoints=("os",))
    ]
    section["cox"] = stats.cox_fit(sets.adtte, endpoint="os").to_dict()
    return section


def pain_section(sets: AnalysisSets, strata: tuple[str, ...]) -> dict[str, Any]:
    """``pain.<variable>.<visit>.<stratum>`` → per-visit summary (docs/domain.md §3)."""
    section: dict[str, Any] = {}
    for summary in stats.pain_visit_summaries(sets.pain, strata_variables=strata):
        entry = summary.to_dict()
        for key in ("stratum", "variable", "visit"):
            entry.pop(key)
        section.setdefault(summary.variable, {}).setdefault(summary.visit, {})[summary.stratum] = entry
    return section


def omed_section(sets: AnalysisSets, strata: tuple[str, ...]) -> dict[str, Any]:
    """``omed.<visit>.<stratum>`` → median, IQR, opioid-free share, change (docs/domain.md §5)."""
    section: dict[str, Any] = {}
    for summary in stats.omed_visit_summaries(sets.pain, strata_variables=strata):
        entry = summary.to_dict()
        entry.pop("stratum")
        entry.pop("visit")
        section.setdefault(summary.visit, {})[summary.stratum] = entry
    return section


def response_section(sets: AnalysisSets, strata: tuple[str, ...]) -> dict[str, Any]:
    """``pain_response.<visit>.<stratum>`` (docs/domain.md §4)."""
    rates = stats.pain_response_rates(
        sets.adresp, itt_population=sets.itt_population, patients=sets.patients, strata_variables=strata
    )
    section: dict[str, Any] = {}
    for rate in rates:
        entry = {category: rate.counts[category] for category in CATEGORIES}
        entry.update(
            {
                key: getattr(rate, key)
                for key in (
                    "evaluable_rate",
                    "itt_rate",
                    "n_records",
                    "evaluable",
                    "responders",
                    "itt_denominator",
                    "itt_responders",
                    "responders_outside_itt",
                )
            }
        )
        section.setdefault(rate.visit, {})[rate.stratum] = entry
    return section


def time_to_response_section(sets: AnalysisSets, strata: tuple[str, ...]) -> dict[str, Any]:
    """``time_to_response.<stratum>`` (analytics.stats.time_to_response; docs/analytics-methods.md)."""
    section = {}
    for result in stats.time_to_response(sets.adresp, sets.adtte, strata_variables=strata):
        entry = result.to_dict()
        entry.pop("stratum")
        curve = entry.pop("curve")
        entry["cumulative_incidence"] = _points(result.curve.points)
        entry["at_days"] = _at_days(result.curve)
        entry["label"], entry["variance"], entry["confidence_interval"] = (
            curve["label"],
            curve["variance"],
            curve["confidence_interval"],
        )
        section[result.stratum] = entry
    return section


def complications_section(sets: AnalysisSets, strata: tuple[str, ...]) -> dict[str, Any]:
    """``complications.<stratum>`` → patients/events per category (docs/domain.md §7)."""
    section = {}
    for summary in stats.complication_summaries(sets.aes, sets.patients, strata_variables=strata):
        entry = summary.to_dict()
        entry.pop("stratum")
        section[summary.stratum] = entry
    return section


def flow_section(sets: AnalysisSets, params: RunParameters) -> dict[str, Any] | None:
    """``patient_flow``: enrolled → treated → per-visit completion → analysed (analytics.stats.flow)."""
    if sets.enrolment is None:
        return None
    return patient_flow(
        sets.enrolment, sets.pain, sets.adresp, visits=params.visits, cutoff=sets.cutoff, not_done=sets.visits_not_done
    ).to_dict()


def numbers_compute(sets: AnalysisSets, params: RunParameters, *, fingerprint: str) -> dict[str, Any]:
    """All numbers of the report; deterministic in (sets, params, fingerprint)."""
    strata = params.strata
    return plain(
        {
            "fingerprint": fingerprint,
            "parameters": params.as_dict(),
            "n_patients": int(len(sets.patients)),
            "data_cutoff": None if sets.cutoff is None else sets.cutoff.date().isoformat(),
            "cohort": cohort_table(sets, strata).to_dict(orient="index"),
            "pain": pain_section(sets, strata),
            "omed": omed_section(sets, strata),
            "pain_response": response_section(sets, strata),
            "time_to_response": time_to_response_section(sets, strata),
            "complications": complications_section(sets, strata),
            "sre": sre_section(sets, strata),
            "overall_survival": os_section(sets, strata),
            "patient_flow": flow_section(sets, params),
        }
    )


# --- time grid (issue 12): curves and at-risk tables span the whole follow-up -----------------
GRID_STEPS: tuple[int, ...] = (30, 60, 90, 180, 365)  # days; months, quarters, half-years, years
GRID_MAX_INTERVALS = 12


def grid_days(max_day: float) -> list[int]:
    """Tick days from 0 to the first multiple of the step ≥ ``max_day``: the smallest step of
    GRID_STEPS (else whole years) giving at most GRID_MAX_INTERVALS intervals."""
    if not max_day or max_day <= 0 or math.isnan(max_day):
        return [0]
    step = next((s for s in GRID_STEPS if max_day / s <= GRID_MAX_INTERVALS), 365 * math.ceil(max_day / 365 / GRID_MAX_INTERVALS))
    return list(range(0, int(math.ceil(max_day / step)) * step + 1, step))


def _step_values(curve, days: list[int], start: float, last_day: float) -> list[float | None]:
    """The curve's step-function value at each day: ``start`` before its first step, None past follow-up."""
    times = np.array([p.day for p in curve.points], dtype=float)
    values = [p.estimate for p in curve.points]
    out: list[float | None] = []
    for day in days:
        if curve.n == 0 or day > last_day:
            out.append(None)
            continue
        i = int(np.searchsorted(times, day, side="right")) - 1
        out.append(start if i < 0 else values[i])
    return out


def time_grid_section(adtte, curves, endpoint: str, strata: tuple[str, ...], *, start: float) -> dict[str, Any]:
    """``days`` spanning the longest follow-up, and per stratum ``at_risk`` (time ≥ day) and the curve's
    ``estimate`` at each day (None past that stratum's last follow-up)."""
    by_stratum = {c.stratum: c for c in curves}
    times = {key: endpoint_time_status(sub, endpoint)[0] for key, sub in iter_strata(adtte, strata)}
    longest = max((float(t.max()) for t in times.values() if len(t)), default=0.0)
    days = grid_days(longest)
    at_risk, estimate = {}, {}
    for key, t in times.items():
        ordered = np.sort(t)
        at_risk[key] = [int(len(ordered) - np.searchsorted(ordered, day, side="left")) for day in days]
        last = float(ordered[-1]) if len(ordered) else -1.0
        estimate[key] = _step_values(by_stratum[key], days, start, last)
    return {"days": days, "max_follow_up_days": longest, "at_risk": at_risk, "estimate": estimate}
