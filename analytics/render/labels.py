"""The report's vocabulary: what a clinician reads instead of the program's codes.

Visit codes become their schedule labels ("day3" → "Day 3", docs/domain.md §2), stratum keys
("modality=RFA") become "Modality: RFA", response categories become words, and proportions are
shown as percentages with a named 95% confidence interval:

- **Wilson score interval** (Wilson, JASA 1927;22:209; no continuity correction; R
  ``prop.test(correct = FALSE)``) for rates of response, improvement and opioid-free share;
- **exact Clopper–Pearson interval** (Biometrika 1934;26:404; R ``binom.test``) for complications,
  which are rare.

Both are the closed forms ``scipy.stats.binomtest(...).proportion_ci`` computes (the exact one as
beta quantiles, which is what Clopper–Pearson is), memoised: a report asks for the same few
(hits, total) pairs many times, and the root-finding of ``binomtest`` costs ~4 ms a call.
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Any

from scipy.stats import beta, norm

from trials.domain.schedule import VISITS_BY_CODE

DOSE_UNIT = "MME/day"  # oral morphine milligram equivalents per day (docs/domain.md §5)
WILSON = "wilson"
EXACT = "exact"
CI_NAMES = {WILSON: "95% CI, Wilson", EXACT: "95% CI, exact Clopper–Pearson"}
VARIABLE_LABELS = {
    "site": "Site",
    "modality": "Modality",
    "augmentation": "Augmentation",
    "radiation_sequence": "Radiation sequence",
    "region": "Region",
}
CATEGORY_LABELS = {
    "CR": "Complete response",
    "PR": "Partial response",
    "PD": "Pain progression",
    "indeterminate": "Indeterminate",
    "not_evaluable": "Not evaluable (missing pain or dose)",
}
ALL_LABEL = "All patients"
MISSING = "–"


def visit_label(code: str) -> str:
    """The schedule's label of a visit code ("month1" → "Month 1"); unknown codes are shown as given."""
    visit = VISITS_BY_CODE.get(code)
    return visit.label if visit else code


def variable_label(variable: str) -> str:
    return VARIABLE_LABELS.get(variable, variable.replace("_", " ").capitalize())


def stratum_label(key: str, *, with_variable: bool = True) -> str:
    """ "all" → "All patients"; "modality=RFA" → "Modality: RFA" (or "RFA" without the variable)."""
    if key == "all":
        return ALL_LABEL
    variable, _, value = key.partition("=")
    return f"{variable_label(variable)}: {value}" if with_variable else value


def stratum_variable(key: str) -> str | None:
    """The variable of a stratum key (None for "all")."""
    return None if key == "all" else key.partition("=")[0]


def proportion_ci(hits: int | None, total: int | None, method: str = WILSON) -> tuple[float, float] | None:
    """Two-sided 95% CI of hits/total by ``method`` ("wilson" or "exact"); None when total is 0 or missing."""
    if hits is None or not total:
        return None
    return _interval(int(hits), int(total), method)


@lru_cache(maxsize=4096)
def _interval(k: int, n: int, method: str) -> tuple[float, float]:
    if method == EXACT:
        low = 0.0 if k == 0 else float(beta.ppf(0.025, k, n - k + 1))
        high = 1.0 if k == n else float(beta.ppf(0.975, k + 1, n - k))
        return low, high
    if method != WILSON:
        raise ValueError(f"unknown interval method {method!r}")
    z = float(norm.ppf(0.975))
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def percent(value: float | None, digits: int = 0) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return MISSING
    return f"{100 * value:.{digits}f}%"


def percent_ci(
    hits: int | None, total: int | None, method: str = WILSON, *, ci: tuple[float, float] | None = None, digits: int = 0
) -> str:
    """ "12/40, 30% (18–45)": count, percentage and 95% CI (``ci`` when already computed)."""
    if hits is None or not total:
        return f"0/{total or 0}" if total == 0 else MISSING
    interval = ci or proportion_ci(hits, total, method)
    assert interval is not None  # total > 0 here
    low, high = interval
    return f"{hits}/{total}, {100 * hits / total:.{digits}f}% ({100 * low:.{digits}f}–{100 * high:.{digits}f})"


def number(value: Any, digits: int = 1) -> str:
    """A measurement with ``digits`` decimals; "–" when missing."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return MISSING
    return f"{float(value):.{digits}f}"


def mean_ci_text(mean: Any, low: Any, high: Any, digits: int = 1) -> str:
    if mean is None:
        return MISSING
    if low is None or high is None:
        return number(mean, digits)
    return f"{number(mean, digits)} ({number(low, digits)}–{number(high, digits)})"


def median_iqr_text(median: Any, q1: Any, q3: Any, digits: int = 0) -> str:
    if median is None:
        return MISSING
    return f"{number(median, digits)} [{number(q1, digits)}–{number(q3, digits)}]"


def p_value_text(p: Any) -> str:
    if p is None:
        return MISSING
    return "<0.001" if p < 0.001 else f"{p:.3f}"
