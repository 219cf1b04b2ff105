"""The compute stage: analysis sets → the numbers of result.json (pure, no ORM).

Every statistic comes from ``analytics.stats``; this module only arranges the
typed results into the result.json contract (issue 3):

- ``sre.cumulative_incidence.<stratum>`` / ``overall_survival.km.<stratum>``:
  lists of ``{"day", "estimate", "ci_low", "ci_high", "at_risk"}``;
- ``sre.at_days.<stratum>`` with keys ``"30", "90", "180", "365"``;
- ``pain_response.<visit>.<stratum>``: the five category counts,
  ``evaluable_rate`` and ``itt_rate``;

where ``<stratum>`` is ``all`` or ``<variable>=<value>``. No timestamps here:
the same analysis sets always give the same numbers.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from analytics import stats
from analytics.cohort import cohort_table
from analytics.derive import AnalysisSets
from analytics.parameters import RunParameters
from analytics.stats.response import CATEGORIES
from analytics.stats.results import plain

CURVE_POINT_KEYS = ("day", "estimate", "ci_low", "ci_high", "at_risk")


def _points(points: Iterable[Any]) -> list[dict[str, Any]]:
    return [{key: value for key, value in point.to_dict().items() if key in CURVE_POINT_KEYS} for point in points]


def _at_days(curve) -> dict[str, dict[str, Any]]:
    return {str(int(point.day)): {k: v for k, v in point.to_dict().items() if k != "day"} for point in curve.landmarks}


def _curve_meta(curve) -> dict[str, Any]:
    return {key: getattr(curve, key) for key in ("label", "method", "variance", "confidence_interval", "n", "events",
                                                  "competing_events", "skipped_reason")}


def curves_section(curves, key: str) -> dict[str, Any]:
    return {
        key: {c.stratum: _points(c.points) for c in curves},
        "at_days": {c.stratum: _at_days(c) for c in curves},
        "curves": {c.stratum: _curve_meta(c) for c in curves},
    }


def sre_section(sets: AnalysisSets, strata: tuple[str, ...]) -> dict[str, Any]:
    """Aalen–Johansen CIF (death competing) and the labelled 1 − KM overestimate (docs/domain.md §6)."""
    section = curves_section(stats.sre_cumulative_incidence(sets.adtte, strata_variables=strata), "cumulative_incidence")
    overestimate = curves_section(stats.sre_one_minus_km(sets.adtte, strata_variables=strata), "curve")
    section["one_minus_km"] = {"km": overestimate["curve"], "at_days": overestimate["at_days"], "curves": overestimate["curves"]}
    section["logrank"] = [r.to_dict() for r in stats.logrank_tests(sets.adtte, strata_variables=strata, endpoints=("sre",))]
    section["cox"] = stats.cox_fit(sets.adtte, endpoint="sre").to_dict()
    return section


def os_section(sets: AnalysisSets, strata: tuple[str, ...]) -> dict[str, Any]:
    section = curves_section(stats.overall_survival(sets.adtte, strata_variables=strata), "km")
    section["logrank"] = [r.to_dict() for r in stats.logrank_tests(sets.adtte, strata_variables=strata, endpoints=("os",))]
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
        entry.update({key: getattr(rate, key) for key in (
            "evaluable_rate", "itt_rate", "n_records", "evaluable", "responders", "itt_denominator",
            "itt_responders", "responders_outside_itt",
        )})
        section.setdefault(rate.visit, {})[rate.stratum] = entry
    return section


def complications_section(sets: AnalysisSets, strata: tuple[str, ...]) -> dict[str, Any]:
    """``complications.<stratum>`` → patients/events per category (docs/domain.md §7)."""
    section = {}
    for summary in stats.complication_summaries(sets.aes, sets.patients, strata_variables=strata):
        entry = summary.to_dict()
        entry.pop("stratum")
        section[summary.stratum] = entry
    return section


def numbers_compute(sets: AnalysisSets, params: RunParameters, *, fingerprint: str) -> dict[str, Any]:
    """All numbers of the report; deterministic in (sets, params, fingerprint)."""
    strata = params.strata
    return plain({
        "fingerprint": fingerprint,
        "parameters": params.as_dict(),
        "n_patients": int(len(sets.patients)),
        "data_cutoff": None if sets.cutoff is None else sets.cutoff.date().isoformat(),
        "cohort": cohort_table(sets).to_dict(orient="index"),
        "pain": pain_section(sets, strata),
        "omed": omed_section(sets, strata),
        "pain_response": response_section(sets, strata),
        "complications": complications_section(sets, strata),
        "sre": sre_section(sets, strata),
        "overall_survival": os_section(sets, strata),
    })
