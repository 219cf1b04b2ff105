"""The report's independent fit jobs: a registry, the serial runner and the merge (issue 17 item 5).

A **fit job** is a named, pure function of the analysis sets::

    func(sets: AnalysisSets, params: RunParameters, strata: tuple[str, ...]) -> dict  # a JSON fragment

registered with :func:`fit_job`. Its fragment is a nested dict of result.json keys (e.g.
``{"sre": {"gray": [...]}}``); the fragments of all jobs are deep-merged into the numbers
(:func:`fragments_merge`: dicts merged key by key, lists concatenated in plan order).

A job's ``scope`` says how it splits across the run's stratification variables:

- ``"strata"``: one unit for the whole cohort (``strata=()``: the ``"all"`` entries only) and one per
  variable (``strata=(variable,)`` inside :func:`analytics.stats.strata.levels_only`: that variable's
  levels only) — Kaplan–Meier/Aalen–Johansen curves, per-visit summaries, response rates…;
- ``"variables"``: one unit per variable (tests across a variable's levels: log-rank, Gray);
- ``"whole"``: one unit with every variable (the Cox models, the cohort table, the patient flow).

A **unit** is ``(job name, stratum)`` with stratum ``"all"``, a variable name, or ``"*"`` (whole).
:func:`fit_units` lists a run's units in merge order (registration order, then "all" and the run's
variables in its order — the order the serial code produced); :func:`fit_unit_run` runs one unit and
returns its fragment after a JSON round trip, so a fragment computed here and one computed on another
worker (analytics.fanout) and sent back as JSON are the same Python value, hence the same result.json
bytes. A unit that raises does not fail the run: its fragment is
``{"fit_failures": [{"job", "stratum", "reason"}]}`` (the report names what is missing and why, as a
degenerate stratum's ``skipped_reason`` does).

Units are handed out longest first by their job's measured ``cost`` (CPU seconds per unit at 100,000
patients, analytics/fit_costs.py); a job whose unit would dominate is registered as several independent jobs
(the mixed models per endpoint, the propensity comparisons per contrast, the Cox models per endpoint), whose
merged fragments are those of one call.

Other analyses join the fan-out by registering a job in analytics/compute.py (or anywhere imported by it).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Mapping
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any, Literal

from analytics.memory import heap_trimmed_if_grown
from analytics.stats.results import plain
from analytics.stats.shared import shared_preparations
from analytics.stats.strata import ALL, levels_only

logger = logging.getLogger(__name__)

Scope = Literal["strata", "variables", "whole"]
WHOLE = "*"
FitFunc = Callable[[Any, Any, tuple[str, ...]], dict[str, Any]]
FitRunner = Callable[[list["FitUnit"], Any, Any], dict["FitUnit", dict[str, Any]]]
# seconds per unit, one figure or per stratum: {"all": s, "site": s, "default": s (any other variable)}
Cost = float | Mapping[str, float]


@dataclass(frozen=True)
class FitJob:
    """A registered job: ``cost`` is its units' run time (CPU seconds per unit as measured, analytics/fit_costs.py;
    one figure, or per stratum; used only to start the longest units first, it never changes a result)."""

    name: str
    func: FitFunc
    scope: Scope
    cost: Cost
    empty: dict[str, Any] | None = None  # the fragment when the job has no unit (a "variables" job, no variable)
    on_failure: Callable[[str], dict[str, Any]] | None = None  # stand-in fragment for a unit that raised, given the reason


@dataclass(frozen=True, order=True)
class FitUnit:
    """One schedulable piece: job ``name`` for ``stratum`` ("all", a stratification variable, or "*")."""

    name: str
    stratum: str

    @property
    def id(self) -> str:
        """``"<name>|<stratum>"`` (the unit's identifier on the wire)."""
        return f"{self.name}|{self.stratum}"

    @classmethod
    def from_id(cls, text: str) -> FitUnit:
        name, _, stratum = text.rpartition("|")
        return cls(name, stratum)


FIT_JOBS: dict[str, FitJob] = {}


def fit_job(
    name: str,
    *,
    scope: Scope = "strata",
    cost: Cost = 1.0,
    empty: dict[str, Any] | None = None,
    on_failure: Callable[[str], dict[str, Any]] | None = None,
) -> Callable[[FitFunc], FitFunc]:
    """Decorator: register ``func`` as the fit job ``name`` (re-registering a name replaces it).

    ``empty``: the fragment of a run where the job has no unit (``scope="variables"`` and no
    stratification variable), e.g. ``{"sre": {"gray": []}}``. ``on_failure(reason)``: the fragment
    standing in for a unit that raised (e.g. a model "skipped" with the reason, as a degenerate
    stratum's), when the report needs the key; the failure is listed in ``fit_failures`` either way."""
    if scope not in ("strata", "variables", "whole"):
        raise ValueError(f"unknown scope {scope!r}")

    def register(func: FitFunc) -> FitFunc:
        FIT_JOBS[name] = FitJob(name, func, scope, cost, empty, on_failure)
        return func

    return register


def fit_units(strata: Iterable[str], jobs: dict[str, FitJob] | None = None) -> list[FitUnit]:
    """Every unit of a run with stratification variables ``strata``, in merge order."""
    strata = tuple(strata)
    units = []
    for job in (FIT_JOBS if jobs is None else jobs).values():
        if job.scope == "whole":
            units.append(FitUnit(job.name, WHOLE))
        else:
            units.extend(FitUnit(job.name, s) for s in ((ALL,) if job.scope == "strata" else ()) + strata)
    return units


def unit_cost(unit: FitUnit) -> float:
    """The expected seconds of ``unit``: its job's cost for the unit's stratum ("all", a variable, or "*": the
    ``"default"`` figure for a variable without its own); 0 for an unregistered job."""
    job = FIT_JOBS.get(unit.name)
    if job is None:
        return 0.0
    if isinstance(job.cost, Mapping):
        return float(job.cost.get(unit.stratum, job.cost.get("default", 0.0)))
    return float(job.cost)


def schedule_order(units: list[FitUnit]) -> list[FitUnit]:
    """The units longest first (by :func:`unit_cost`; stable), so parallel workers finish together
    (longest-processing-time-first list scheduling: within 4/3 of the best makespan)."""
    return sorted(units, key=lambda u: -unit_cost(u))


def lpt_makespan(seconds: Iterable[float], workers: int) -> float:
    """The finishing time of ``seconds`` (unit run times, in the order they are taken) on ``workers`` workers
    that each take the next unit when free (what the fan-out does); no overhead counted."""
    loads = [0.0] * max(workers, 1)
    for duration in seconds:
        loads[loads.index(min(loads))] += duration
    return max(loads)


def fit_unit_run(unit: FitUnit, sets: Any, params: Any) -> dict[str, Any]:
    """Run one unit; its JSON fragment (JSON round-tripped), or a ``fit_failures`` entry if it raised. The heap
    pages its temporaries freed go back to the operating system when it ends, once the units' free pages add up
    (analytics.memory.heap_trimmed_if_grown)."""
    try:
        return _fit_unit_fragment(unit, sets, params)
    finally:
        heap_trimmed_if_grown()


def _fit_unit_fragment(unit: FitUnit, sets: Any, params: Any) -> dict[str, Any]:
    try:
        job = FIT_JOBS[unit.name]
        strata: tuple[str, ...] = (
            tuple(params.strata) if unit.stratum == WHOLE else () if unit.stratum == ALL else (unit.stratum,)
        )
        with levels_only() if unit.stratum not in (WHOLE, ALL) else nullcontext():
            fragment = job.func(sets, params, strata)
        return json.loads(json.dumps(plain(fragment), allow_nan=False))
    except Exception as exc:  # noqa: BLE001 - one job's failure is reported in the result, never fails the run
        logger.exception("Fit job %s failed", unit.id)
        reason = f"{type(exc).__name__}: {exc}"
        failure: dict[str, Any] = {"fit_failures": [{"job": unit.name, "stratum": unit.stratum, "reason": reason}]}
        registered = FIT_JOBS.get(unit.name)
        if registered is not None and registered.on_failure is not None:
            failure = {**plain(registered.on_failure(reason)), **failure}
        return json.loads(json.dumps(failure, allow_nan=False))


def serial_runner(units: list[FitUnit], sets: Any, params: Any) -> dict[FitUnit, dict[str, Any]]:
    """Run every unit here, one after the other (the embedded/eager path and the reference)."""
    return {unit: fit_unit_run(unit, sets, params) for unit in units}


def _merge_into(target: dict[str, Any], fragment: dict[str, Any]) -> None:
    for key, value in fragment.items():
        if key not in target:
            target[key] = value
        elif isinstance(target[key], dict) and isinstance(value, dict):
            _merge_into(target[key], value)
        elif isinstance(target[key], list) and isinstance(value, list):
            target[key] = target[key] + value
        else:
            raise ValueError(f"fit jobs disagree on result key {key!r}")


def fragments_merge(units: list[FitUnit], fragments: dict[FitUnit, dict[str, Any]]) -> dict[str, Any]:
    """Deep-merge the fragments in the order of ``units`` (dicts key by key, lists concatenated)."""
    merged: dict[str, Any] = {}
    for unit in units:
        _merge_into(merged, json.loads(json.dumps(fragments[unit])))  # a copy: fragments stay untouched
    return merged


def fits_compute(sets: Any, params: Any, runner: FitRunner | None = None) -> dict[str, Any]:
    """Run every registered job's units for ``params.strata`` with ``runner`` (default: serial) and merge them."""
    units = fit_units(params.strata)
    with shared_preparations():  # the units here share their input checks and preparations (analytics.stats.shared)
        fragments = (runner or serial_runner)(units, sets, params)
    merged = fragments_merge(units, fragments)
    with_units = {unit.name for unit in units}
    for job in FIT_JOBS.values():
        if job.name not in with_units and job.empty is not None:
            _merge_into(merged, json.loads(json.dumps(job.empty)))
    return merged
