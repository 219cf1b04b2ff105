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
- ``mixed_model.<endpoint>.<variable>`` (issue 16, exploratory): the repeated-measures linear mixed model of
  the change from baseline of ``worst`` pain (primary), ``interference`` and ``omed`` — ``<variable>`` is
  ``all`` (unstratified) or a stratification variable; fixed effects with SEs, model-based mean change per
  visit × level and level differences with 95% CIs, N patients / observations, ``converged``, or a
  ``skipped_reason`` (analytics.stats.mixed_model);
- ``site_benchmarking.<indicator>`` (issue 16, exploratory): funnel-plot data per site for
  ``major_complications``, ``pain_response_month1`` and ``follow_up_completeness`` — registry rate, each
  site's rate and its 95% / 99.8% exact binomial limits, the sites outside them (analytics.stats.funnel);
- ``propensity.<contrast>`` (issue 16): propensity-score-weighted comparison of a binary contrast (cement, radiation
  sequence, modality, intent) — status/reason, counts, propensity model, balance table, weighted response rates,
  weighted KM / Aalen–Johansen curves and robust weighted Cox hazard ratios (docs/analytics-methods.md);
- ``sre.time_grid`` / ``overall_survival.time_grid`` (issue 12): ``days`` from 0
  past the longest follow-up, ``max_follow_up_days``, and per stratum
  ``at_risk`` and ``estimate`` at each of those days;

- ``pro_completion.<visit>`` (issue 15): ``expected`` (ITT), ``received``, ``received_by_source``
  (``patient``/``staff``), ``completion_rate`` and ``completion_rate_by_source``;
- ``pain_response_by_source.<visit>.<source>`` (issue 15, sensitivity analysis): ``n_records``,
  ``evaluable``, ``responders``, ``evaluable_rate`` with its Wilson 95% ``ci_low``/``ci_high``;

where ``<stratum>`` is ``all`` or ``<variable>=<value>``. No timestamps here:
the same analysis sets always give the same numbers.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from analytics import stats
from analytics.cohort import cohort_table
from analytics.derive import AnalysisSets
from analytics.fit_costs import FIT_COSTS
from analytics.fits import FitRunner, fit_job, fits_compute
from analytics.memory import heap_trimmed
from analytics.parameters import RunParameters
from analytics.stats.flow import patient_flow
from analytics.stats.funnel import site_benchmarking
from analytics.stats.local_control import LOCAL_CONTROL, PRIMARY_STRATA, local_tumour_control
from analytics.stats.mixed_model import ENDPOINTS as MIXED_ENDPOINTS
from analytics.stats.mixed_model import mixed_models
from analytics.stats.pro import pro_completion, response_rates_by_source
from analytics.stats.propensity import CONTRASTS, covariate_frame, propensity_analyses
from analytics.stats.response import CATEGORIES
from analytics.stats.results import plain
from analytics.time_grid import time_grid_section

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


def pro_sections(sets: AnalysisSets) -> dict[str, Any]:
    """``pro_completion`` and ``pain_response_by_source`` (issue 15, analytics.stats.pro)."""
    completion = {}
    for row in pro_completion(sets.adresp):
        entry = row.to_dict()
        completion[entry.pop("visit")] = entry
    by_source: dict[str, Any] = {}
    for rate in response_rates_by_source(sets.adresp):
        entry = rate.to_dict()
        visit, source = entry.pop("visit"), entry.pop("source")
        by_source.setdefault(visit, {})[source] = entry
    return {"pro_completion": completion, "pain_response_by_source": by_source}


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


def mixed_model_section(
    sets: AnalysisSets, params: RunParameters, strata: tuple[str, ...], endpoints: tuple[str, ...] = tuple(MIXED_ENDPOINTS)
) -> dict[str, Any]:
    """``mixed_model.<endpoint>.<variable>`` (analytics.stats.mixed_model; docs/analytics-methods.md): the
    unstratified models (not inside ``levels_only``) and those of the ``strata`` variables, for ``endpoints``
    (default all three; each endpoint's models depend on its own column only)."""
    section: dict[str, Any] = {}
    models = mixed_models(sets.pain, adtte=sets.adtte, strata_variables=strata, visits=params.visits, endpoints=endpoints)
    for result in models:
        section.setdefault(result.endpoint, {})[result.variable] = result.to_dict()
    return section


def site_benchmarking_section(sets: AnalysisSets, params: RunParameters) -> dict[str, Any]:
    """``site_benchmarking.<indicator>`` (analytics.stats.funnel; docs/analytics-methods.md)."""
    funnels = site_benchmarking(
        patients=sets.patients, aes=sets.aes, adresp=sets.adresp, itt_population=sets.itt_population, visits=params.visits
    )
    return {f.indicator: f.to_dict() for f in funnels}


def propensity_section(sets: AnalysisSets, params: RunParameters, contrasts: tuple[str, ...] | None = None) -> dict[str, Any]:
    """``propensity.<contrast>``: the IPTW comparison of each requested contrast (analytics.stats.propensity;
    docs/analytics-methods.md "Propensity-weighted comparisons"); ``contrasts`` (default: all requested) narrows it
    to those of them (each contrast's analysis is independent of the others)."""
    wanted = params.contrasts if contrasts is None else tuple(c for c in params.contrasts if c in contrasts)
    if not wanted:
        return {}
    covariates = covariate_frame(sets.patients, sets.pain)
    results = propensity_analyses(covariates, sets.adtte, sets.adresp, contrasts=wanted, visits=params.visits)
    return {result.contrast: result.to_dict() for result in results}


def flow_section(sets: AnalysisSets, params: RunParameters) -> dict[str, Any] | None:
    """``patient_flow``: enrolled → treated → per-visit completion → analysed (analytics.stats.flow)."""
    if sets.enrolment is None:
        return None
    return patient_flow(
        sets.enrolment, sets.pain, sets.adresp, visits=params.visits, cutoff=sets.cutoff, not_done=sets.visits_not_done
    ).to_dict()


# --- the fit jobs (analytics.fits): each an independent, pure piece of the numbers ------------------
def measured_job(name: str, **options: Any):
    """:func:`analytics.fits.fit_job` with the job's measured cost (CPU seconds per unit, analytics/fit_costs.py:
    it orders the units longest first and never changes a result)."""
    return fit_job(name, cost=FIT_COSTS[name], **options)


@measured_job("cohort", scope="whole")
def cohort_job(sets: AnalysisSets, params: RunParameters, strata: tuple[str, ...]) -> dict[str, Any]:
    return {"cohort": cohort_table(sets, strata).to_dict(orient="index")}


@measured_job("pain")
def pain_job(sets: AnalysisSets, params: RunParameters, strata: tuple[str, ...]) -> dict[str, Any]:
    return {"pain": pain_section(sets, strata)}


@measured_job("omed")
def omed_job(sets: AnalysisSets, params: RunParameters, strata: tuple[str, ...]) -> dict[str, Any]:
    return {"omed": omed_section(sets, strata)}


@measured_job("pain_response")
def pain_response_job(sets: AnalysisSets, params: RunParameters, strata: tuple[str, ...]) -> dict[str, Any]:
    return {"pain_response": response_section(sets, strata)}


@measured_job("time_to_response")
def time_to_response_job(sets: AnalysisSets, params: RunParameters, strata: tuple[str, ...]) -> dict[str, Any]:
    return {"time_to_response": time_to_response_section(sets, strata)}


@measured_job("complications")
def complications_job(sets: AnalysisSets, params: RunParameters, strata: tuple[str, ...]) -> dict[str, Any]:
    return {"complications": complications_section(sets, strata)}


@measured_job("sre.cumulative_incidence")
def sre_cif_job(sets: AnalysisSets, params: RunParameters, strata: tuple[str, ...]) -> dict[str, Any]:
    """Aalen–Johansen CIF (death competing), docs/domain.md §6."""
    return {"sre": curves_section(stats.sre_cumulative_incidence(sets.adtte, strata_variables=strata), "cumulative_incidence")}


@measured_job("sre.one_minus_km")
def sre_one_minus_km_job(sets: AnalysisSets, params: RunParameters, strata: tuple[str, ...]) -> dict[str, Any]:
    """The labelled 1 − KM overestimate (deaths censored), docs/domain.md §6."""
    overestimate = curves_section(stats.sre_one_minus_km(sets.adtte, strata_variables=strata), "curve")
    return {
        "sre": {
            "one_minus_km": {"km": overestimate["curve"], "at_days": overestimate["at_days"], "curves": overestimate["curves"]}
        }
    }


@measured_job("sre.logrank", scope="variables", empty={"sre": {"logrank": []}})
def sre_logrank_job(sets: AnalysisSets, params: RunParameters, strata: tuple[str, ...]) -> dict[str, Any]:
    tests = stats.logrank_tests(sets.adtte, strata_variables=strata, endpoints=("sre",))
    return {"sre": {"logrank": [{**r.to_dict(), "test": SRE_LOGRANK_LABEL} for r in tests]}}


@measured_job("sre.gray", scope="variables", empty={"sre": {"gray": []}})
def sre_gray_job(sets: AnalysisSets, params: RunParameters, strata: tuple[str, ...]) -> dict[str, Any]:
    return {"sre": {"gray": [r.to_dict() for r in stats.gray_tests(sets.adtte, strata_variables=strata)]}}


def _cox_not_computed(endpoint: str, section: str):
    """The stand-in of a Cox job that raised: a model skipped with the reason (as a degenerate one)."""
    return lambda reason: {section: {"cox": stats.cox_not_computed(endpoint, f"not computed: {reason}").to_dict()}}


@measured_job("sre.cox", scope="whole", on_failure=_cox_not_computed("sre", "sre"))
def sre_cox_job(sets: AnalysisSets, params: RunParameters, strata: tuple[str, ...]) -> dict[str, Any]:
    return {"sre": {"cox": stats.cox_fit(sets.adtte, endpoint="sre").to_dict()}}


@measured_job("overall_survival.km")
def os_km_job(sets: AnalysisSets, params: RunParameters, strata: tuple[str, ...]) -> dict[str, Any]:
    return {"overall_survival": curves_section(stats.overall_survival(sets.adtte, strata_variables=strata), "km")}


@measured_job("overall_survival.logrank", scope="variables", empty={"overall_survival": {"logrank": []}})
def os_logrank_job(sets: AnalysisSets, params: RunParameters, strata: tuple[str, ...]) -> dict[str, Any]:
    tests = stats.logrank_tests(sets.adtte, strata_variables=strata, endpoints=("os",))
    return {"overall_survival": {"logrank": [{**r.to_dict(), "test": OS_LOGRANK_LABEL} for r in tests]}}


@measured_job("overall_survival.cox", scope="whole", on_failure=_cox_not_computed("os", "overall_survival"))
def os_cox_job(sets: AnalysisSets, params: RunParameters, strata: tuple[str, ...]) -> dict[str, Any]:
    return {"overall_survival": {"cox": stats.cox_fit(sets.adtte, endpoint="os").to_dict()}}


@measured_job("patient_flow", scope="whole")
def patient_flow_job(sets: AnalysisSets, params: RunParameters, strata: tuple[str, ...]) -> dict[str, Any]:
    return {"patient_flow": flow_section(sets, params)}


def _mixed_model_job(endpoint: str):
    def job(sets: AnalysisSets, params: RunParameters, strata: tuple[str, ...]) -> dict[str, Any]:
        return {"mixed_model": mixed_model_section(sets, params, strata, endpoints=(endpoint,))}

    return job


# one job per endpoint (× the strata units): the site-stratified model of all three endpoints was one unit
for _endpoint in MIXED_ENDPOINTS:
    measured_job(f"mixed_model.{_endpoint}")(_mixed_model_job(_endpoint))


@measured_job("site_benchmarking", scope="whole")
def site_benchmarking_job(sets: AnalysisSets, params: RunParameters, strata: tuple[str, ...]) -> dict[str, Any]:
    return {"site_benchmarking": site_benchmarking_section(sets, params)}


def _propensity_job(contrast: str):
    def job(sets: AnalysisSets, params: RunParameters, strata: tuple[str, ...]) -> dict[str, Any]:
        return {"propensity": propensity_section(sets, params, contrasts=(contrast,))}  # {} unless requested

    return job


# one job per contrast: the four contrasts were one unit, the longest of the run (numbers_compute restores the
# requested order of the merged ``propensity`` section)
for _contrast in CONTRASTS:
    measured_job(f"propensity.{_contrast}", scope="whole")(_propensity_job(_contrast))


@measured_job("local_tumour_control", scope="whole")
def local_tumour_control_job(sets: AnalysisSets, params: RunParameters, strata: tuple[str, ...]) -> dict[str, Any]:
    """Technical success and LTP cumulative incidence, death competing (issue 10 part B; docs/domain.md §12)."""
    if sets.lesion_control is None or sets.adltp is None:
        return {"local_tumour_control": {"skipped_reason": "no imaging follow-up in the analysis sets"}}
    result = local_tumour_control(sets.lesion_control, sets.adltp).to_dict()
    rates = {entry.pop("stratum"): entry for entry in result.pop("technical_success")}
    curves, method = {}, {}
    for entry in result.pop("ltp"):
        curve = entry.pop("curve")
        meta = {k: curve[k] for k in ("n", "events", "competing_events", "skipped_reason")}
        points, at_days = curve["points"], {str(int(p.pop("day"))): p for p in curve["landmarks"]}
        curves[entry.pop("stratum")] = {**entry, **meta, "at_days": at_days, "cumulative_incidence": points}
        method = {k: curve[k] for k in ("label", "method", "variance", "confidence_interval")}
    primary = sets.adltp[(sets.adltp["intent"] == LOCAL_CONTROL) & sets.adltp["ltp_population"].astype(bool)]
    grid_input = {
        "cumulative_incidence": {k: v["cumulative_incidence"] for k, v in curves.items()},
        "curves": {k: {"n": v["n"], "skipped_reason": v["skipped_reason"]} for k, v in curves.items()},
    }
    grid = time_grid_section(primary, grid_input, "cumulative_incidence", "ltp", PRIMARY_STRATA, start=0.0)
    ltp = {**method, "strata": curves, "time_grid": grid}
    return {"local_tumour_control": {**result, "technical_success": rates, "ltp": ltp}}


def numbers_compute(
    sets: AnalysisSets, params: RunParameters, *, fingerprint: str, runner: FitRunner | None = None
) -> dict[str, Any]:
    """All numbers of the report; deterministic in (sets, params, fingerprint), whatever the ``runner``.

    The fit jobs above (and any registered elsewhere) run through ``runner``: in this process one after
    the other (default, :func:`analytics.fits.serial_runner`) or fanned out across the Celery workers
    (:func:`analytics.fanout.fanout_runner`); both give the same numbers. The time grids are built here
    from the merged curves (they span the whole cohort's follow-up, so they need every stratum's curve).
    """
    strata = params.strata
    numbers: dict[str, Any] = plain(
        {
            "fingerprint": fingerprint,
            "parameters": params.as_dict(),
            "n_patients": int(len(sets.patients)),
            "data_cutoff": None if sets.cutoff is None else sets.cutoff.date().isoformat(),
            **pro_sections(sets),  # issue 15: cheap counts, computed here rather than as fit jobs
        }
    )
    heap_trimmed()  # the PRO sections' temporaries, before the fits (analytics.memory)
    numbers.update(fits_compute(sets, params, runner))  # plain JSON already (analytics.fits.fit_unit_run)
    if isinstance(numbers.get("propensity"), dict):  # one unit per contrast, merged in plan order: the requested order
        merged = numbers["propensity"]
        numbers["propensity"] = {c: merged[c] for c in params.contrasts if c in merged} | merged
    for key, endpoint, curves_key, start in (("sre", "sre", "cumulative_incidence", 0.0), ("overall_survival", "os", "km", 1.0)):
        section = numbers.get(key)
        if section and curves_key in section and "curves" in section:
            section["time_grid"] = plain(time_grid_section(sets.adtte, section, curves_key, endpoint, strata, start=start))
    return numbers
