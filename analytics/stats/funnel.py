"""Site benchmarking with funnel plots (issue 16 item 4; docs/analytics-methods.md "Exploratory analyses").

Three indicators per site, each a proportion ``events / n`` plotted against its denominator ``n``:

- **major complication rate**: treated patients with ≥ 1 adverse event of SIR grade severe,
  life-threatening or death (Khalilzadeh et al., JVIR 2017;28:1432 — the grades that need escalation
  of care or hospitalisation, the "major" complications of the earlier SIR scale) / treated patients;
- **1-month pain-response rate**: CR + PR / evaluable patients at the month-1 visit (International
  Consensus, Chow et al., IJROBP 2012;82:1730; docs/domain.md §4: ``evaluable_rate``);
- **follow-up completeness**: follow-up visits with worst pain recorded / visits expected (patient ×
  visit in the ITT population: alive and on study at the target day, before the data cut-off).

Control limits (Spiegelhalter, Stat Med 2005;24:1185, appendix A.1.1) around the registry rate p₀ =
Σ events / Σ n, at the 95% (2-sided, "alert") and 99.8% ("alarm") levels: for a tail probability q the
exact binomial quantile r_q = the smallest r with P(R ≤ r) ≥ q (``scipy.stats.binom.ppf``, R's
``qbinom``), **interpolated** so the limit moves smoothly with n::

    α = (P(R ≤ r_q) − q) / (P(R ≤ r_q) − P(R ≤ r_q − 1)),   limit = (r_q − α) / n.

A site is *outside* a level's limits when its rate is below the lower or above the upper limit. With
p₀ = 0 or 1 every limit equals p₀. Never raises on degenerate data: a single site (its own rate is
the registry rate, noted), a site with 0 patients evaluable (no rate, no limits, noted), or no
evaluable patients at all (``skipped_reason``).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats as scipy_stats

from .response import pain_response_rates
from .results import Result, ratio
from .strata import as_text, require_columns

MAJOR_SIR_GRADES: tuple[str, ...] = ("severe", "life_threatening", "death")
RESPONSE_VISIT = "month1"
LEVELS: tuple[float, ...] = (0.95, 0.998)
METHOD = "exact binomial quantiles with Spiegelhalter's interpolation (Stat Med 2005;24:1185, appendix A.1.1)"
INDICATORS: dict[str, tuple[str, str]] = {  # key → (label, denominator label)
    "major_complications": ("Major complications (SIR severe, life-threatening or death)", "treated patients"),
    "pain_response_month1": ("Pain response (CR or PR) at month 1", "patients evaluable at month 1"),
    "follow_up_completeness": ("Follow-up completeness (worst pain recorded / visits expected)", "follow-up visits expected"),
}


def binomial_limit(p0: float, n: int, q: float) -> float | None:
    """Interpolated exact binomial q-quantile of R/n, R ~ Binomial(n, p0) (module docstring); None if n = 0.

    ``p0`` in [0, 1], ``n`` ≥ 0 patients, ``q`` in (0, 1) a tail probability (0.025 → lower 95% limit).
    """
    if n <= 0:
        return None
    return float(binomial_limits(p0, np.array([n]), q)[0])


def binomial_limits(p0: float, n: np.ndarray, q: float) -> np.ndarray:
    """``binomial_limit`` for every denominator in ``n`` (integers ≥ 1) at once: one vectorised scipy call per
    quantile and CDF instead of one per ``n`` (the funnel plot's curves span every n up to the largest site's —
    tens of thousands at 100,000 patients). Element for element the same floats as the scalar formula."""
    n = np.asarray(n, dtype=np.int64)
    if p0 <= 0.0 or p0 >= 1.0:
        return np.full(len(n), float(p0))
    r = scipy_stats.binom.ppf(q, n, p0).astype(float)
    at, below = scipy_stats.binom.cdf(r, n, p0).astype(float), scipy_stats.binom.cdf(r - 1, n, p0).astype(float)
    gap = at - below
    alpha = np.divide(at - q, gap, out=np.zeros(len(n)), where=at > below)
    return np.minimum(np.maximum((r - alpha) / n, 0.0), 1.0)


def control_limits(p0: float, n: int, level: float) -> tuple[float | None, float | None]:
    """(lower, upper) limits of a two-sided ``level`` (0.95 or 0.998) funnel at denominator ``n``."""
    tail = (1.0 - level) / 2.0
    return binomial_limit(p0, n, tail), binomial_limit(p0, n, 1.0 - tail)


def control_limit_curves(p0: float, n: np.ndarray, level: float) -> tuple[np.ndarray, np.ndarray]:
    """(lower, upper) limits of a two-sided ``level`` funnel at every denominator of ``n`` (integers ≥ 1)."""
    tail = (1.0 - level) / 2.0
    return binomial_limits(p0, n, tail), binomial_limits(p0, n, 1.0 - tail)


@dataclass(frozen=True)
class FunnelSite(Result):
    """One site's indicator: ``events`` / ``n``, its limits and where it falls ("within", "above", "below")."""

    site: str
    n: int
    events: int
    rate: float | None
    lower_95: float | None
    upper_95: float | None
    lower_998: float | None
    upper_998: float | None
    outside_95: str
    outside_998: str


@dataclass(frozen=True)
class FunnelIndicator(Result):
    """One funnel plot: the registry rate and every site. ``outside_95`` / ``outside_998`` name the sites."""

    indicator: str
    label: str
    denominator: str
    method: str
    registry_events: int
    registry_n: int
    registry_rate: float | None
    sites: tuple[FunnelSite, ...]
    outside_95: tuple[str, ...]
    outside_998: tuple[str, ...]
    notes: tuple[str, ...] = ()
    skipped_reason: str | None = None


def _position(rate: float | None, low: float | None, high: float | None) -> str:
    if rate is None or low is None or high is None:
        return "not assessed"
    return "below" if rate < low else "above" if rate > high else "within"


def funnel_indicator(indicator: str, counts: Mapping[str, tuple[int, int]]) -> FunnelIndicator:
    """Funnel of ``counts`` (site → (events, n)) around the registry rate Σ events / Σ n."""
    label, denominator = INDICATORS.get(indicator, (indicator, "n"))
    events_total = sum(e for e, _ in counts.values())
    n_total = sum(n for _, n in counts.values())
    p0 = ratio(events_total, n_total)
    notes = []
    if len(counts) == 1:
        notes.append("a single site: its rate is the registry rate, so it cannot fall outside the limits.")
    sites = []
    for site in sorted(counts, key=str):
        events, n = counts[site]
        if n == 0:
            notes.append(f"site {site}: no patients evaluable, not assessed.")
        limits = {level: control_limits(p0, n, level) if p0 is not None else (None, None) for level in LEVELS}
        rate = ratio(events, n)
        sites.append(
            FunnelSite(
                site=str(site),
                n=int(n),
                events=int(events),
                rate=rate,
                lower_95=limits[0.95][0],
                upper_95=limits[0.95][1],
                lower_998=limits[0.998][0],
                upper_998=limits[0.998][1],
                outside_95=_position(rate, *limits[0.95]),
                outside_998=_position(rate, *limits[0.998]),
            )
        )
    return FunnelIndicator(
        indicator=indicator,
        label=label,
        denominator=denominator,
        method=METHOD,
        registry_events=int(events_total),
        registry_n=int(n_total),
        registry_rate=p0,
        sites=tuple(sites),
        outside_95=tuple(s.site for s in sites if s.outside_95 in ("above", "below")),
        outside_998=tuple(s.site for s in sites if s.outside_998 in ("above", "below")),
        notes=tuple(notes),
        skipped_reason=None if n_total else f"no {denominator} in the registry",
    )


def _site_of(patients: pd.DataFrame) -> pd.Series:
    known = patients[patients["site"].notna()]
    return pd.Series(known["site"].astype(str).to_numpy(), index=known["study_id"].astype(str).to_numpy())


def major_complication_counts(aes: pd.DataFrame, patients: pd.DataFrame) -> dict[str, tuple[int, int]]:
    """site → (treated patients with ≥ 1 major complication, treated patients)."""
    require_columns(aes, ("study_id", "sir_grade"), name="aes")
    site = _site_of(patients)
    major = set(aes.loc[aes["sir_grade"].isin(MAJOR_SIR_GRADES), "study_id"].astype(str))
    return {
        str(s): (int(sum(1 for pid in ids if pid in major)), len(ids))
        for s, ids in site.index.to_series().groupby(site.to_numpy(), sort=True)
    }


def response_counts(
    adresp: pd.DataFrame, patients: pd.DataFrame, itt_population: Mapping[str, Collection[str]], visit: str = RESPONSE_VISIT
) -> dict[str, tuple[int, int]]:
    """site → (responders, evaluable patients) at ``visit`` (``analytics.stats.response`` rules)."""
    rates = pain_response_rates(adresp, itt_population=itt_population, patients=patients, strata_variables=("site",))
    counts = {s: (0, 0) for s in sorted(set(_site_of(patients)))}
    for r in rates:
        if r.visit == visit and r.stratum.startswith("site="):
            counts[r.stratum.removeprefix("site=")] = (r.responders, r.evaluable)
    return counts


def completeness_counts(adresp: pd.DataFrame, patients: pd.DataFrame, visits: Sequence[str]) -> dict[str, tuple[int, int]]:
    """site → (follow-up visits with worst pain recorded, visits expected), over ``visits``."""
    require_columns(adresp, ("study_id", "visit", "worst_pain"), name="adresp")
    site = _site_of(patients)
    listed = as_text(adresp["visit"]).isin(list(visits)).to_numpy()  # the two columns used, not a copy of adresp
    by_site = as_text(adresp["study_id"][listed]).map(site)
    counts = {s: (0, 0) for s in sorted(set(site))}
    recorded = adresp["worst_pain"].notna().to_numpy()[listed]
    for s in counts:
        mask = (by_site == s).to_numpy()
        counts[s] = (int(np.sum(recorded & mask)), int(np.sum(mask)))
    return counts


def site_benchmarking(
    *,
    patients: pd.DataFrame,
    aes: pd.DataFrame,
    adresp: pd.DataFrame,
    itt_population: Mapping[str, Collection[str]],
    visits: Sequence[str],
) -> tuple[FunnelIndicator, ...]:
    """The three funnels of the module docstring, sites from ``patients["site"]``.

    ``patients``: one row per treated patient (study_id, site); ``aes``: study_id, sir_grade;
    ``adresp``: one row per ITT patient × follow-up visit (analytics/derive.py); ``visits``: the run's
    follow-up visits (completeness). The response funnel uses month 1 only when it is among ``visits``.
    Raises ValueError only on malformed input (missing columns).
    """
    require_columns(patients, ("study_id", "site"), name="patients")
    results = [funnel_indicator("major_complications", major_complication_counts(aes, patients))]
    if RESPONSE_VISIT in visits:
        results.append(funnel_indicator("pain_response_month1", response_counts(adresp, patients, itt_population)))
    results.append(funnel_indicator("follow_up_completeness", completeness_counts(adresp, patients, visits)))
    return tuple(results)
