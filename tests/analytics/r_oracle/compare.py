"""Parse ``oracle.R`` output and pair each R number with the same number from
analytics.stats, so the opt-in live test (and a developer) can compare them."""

from __future__ import annotations

import math
import re
from collections.abc import Iterator

import pandas as pd

from analytics.stats import (
    cox_fit,
    gray_tests,
    logrank_by,
    overall_survival,
    sre_cumulative_incidence,
    sre_one_minus_km,
)
from analytics.stats.competing_risks import aalen_johansen_steps
from analytics.stats.complications import clopper_pearson
from analytics.stats.risk_sets import endpoint_time_status

LOGRANK_SECTIONS = {
    "lr_os_modality": ("os", "modality"),
    "lr_os_region": ("os", "region"),
    "lr_sre_augmentation": ("sre", "augmentation"),
    "lr_sre_modality": ("sre", "modality"),
}
COX_VARIABLES = ("modality", "augmentation", "radiation_sequence", "region")


def parse(text: str) -> dict[str, dict[str, float | None]]:
    """``section -> key -> value`` (R's NA → None)."""
    parsed: dict[str, dict[str, float | None]] = {}
    for line in text.strip().splitlines():
        section, key, value = line.split("\t")
        parsed.setdefault(section, {})[key] = None if value == "NA" else float(value)
    return parsed


def _curve_values(curve, section: str) -> Iterator[tuple[str, str, float | None]]:
    for p in curve.points:
        day = f"{p.day:g}"
        for field in ("estimate", "ci_low", "ci_high", "at_risk"):
            yield section, f"{field}@{day}", getattr(p, field)
    for p in curve.landmarks:
        yield section, f"landmark@{p.day:g}", p.estimate


def _cox_name(term) -> str:
    return f"{term.variable}{term.level}"


def python_values(adtte: pd.DataFrame) -> dict[tuple[str, str], float | None]:
    """Every number oracle.R prints, computed by analytics.stats."""
    values: dict[tuple[str, str], float | None] = {}
    no_strata: tuple[str, ...] = ()
    for section, curve in (
        ("os_km", overall_survival(adtte, strata_variables=no_strata)[0]),
        ("sre_km", sre_one_minus_km(adtte, strata_variables=no_strata)[0]),
        ("sre_aj", sre_cumulative_incidence(adtte, strata_variables=no_strata)[0]),
    ):
        values.update({(s, k): v for s, k, v in _curve_values(curve, section)})
    steps = aalen_johansen_steps(*endpoint_time_status(adtte, "sre"))
    for day, var in zip(steps["time"], steps["var"], strict=True):
        values[("sre_aj", f"var@{day:g}")] = float(var)
    for section, (endpoint, variable) in LOGRANK_SECTIONS.items():
        result = logrank_by(adtte, variable, endpoint=endpoint)
        values[(section, "chisq")] = result.chisq
        for g in result.groups:
            values[(section, f"observed@{g.group}")] = g.observed
            values[(section, f"expected@{g.group}")] = g.expected
    for endpoint in ("os", "sre"):
        for term in cox_fit(adtte, endpoint=endpoint, covariates=COX_VARIABLES).terms:
            for field, key in (("hr", "hr"), ("ci_low", "ci_low"), ("ci_high", "ci_high"), ("p_value", "p")):
                values[(f"cox_{endpoint}", f"{key}@{_cox_name(term)}")] = getattr(term, field)
    return values


def mismatches(r_values: dict[str, dict[str, float | None]], py: dict, tol: float) -> list[str]:
    """Keys where R and Python differ by more than ``tol`` (relative for Cox)."""
    problems = []
    for section, entries in r_values.items():
        for key, expected in entries.items():
            if re.match(r"(landmark_var@|survfit_ms)", key):
                continue
            got = py.get((section, key), "absent")
            if got == "absent":
                problems.append(f"{section} {key}: not computed in Python")
            elif expected is None or got is None:
                if expected is not got:
                    problems.append(f"{section} {key}: R {expected} vs Python {got}")
            elif not math.isclose(got, expected, rel_tol=tol, abs_tol=tol):
                problems.append(f"{section} {key}: R {expected!r} vs Python {got!r}")
    return problems


def gray_python_values(frame, section: str, variables) -> dict[tuple[str, str], float | None]:
    """Gray's test statistic and p-value per variable, keyed as degenerate.R prints them."""
    values: dict[tuple[str, str], float | None] = {}
    for result in gray_tests(frame, strata_variables=tuple(variables)):
        values[(section, f"stat@{result.variable}")] = result.statistic
        values[(section, f"p@{result.variable}")] = result.p_value
    return values


def degenerate_python_values(aliased, binomial_pairs=()) -> dict[tuple[str, str], float | None]:
    """Every number degenerate.R prints, computed by analytics.stats (aliased terms: all None, as R's NA)."""
    values: dict[tuple[str, str], float | None] = {}
    for k, n in binomial_pairs:
        low, high = clopper_pearson(k, n)
        values[("binom", f"ci_low@{k}/{n}")], values[("binom", f"ci_high@{k}/{n}")] = low, high
    for term in cox_fit(aliased, covariates=("augmentation", "region")).terms:
        for field, key in (("hr", "hr"), ("ci_low", "ci_low"), ("ci_high", "ci_high"), ("p_value", "p")):
            values[("cox_aliased", f"{key}@{_cox_name(term)}")] = getattr(term, field)
    return values
