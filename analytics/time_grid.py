"""Time grid of the report's curves (issue 12): tick days spanning the whole follow-up, with the numbers at risk
and each curve's value at those days (result.json ``<section>.time_grid``; docs/analytics-methods.md)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from analytics.stats.risk_sets import endpoint_time_status
from analytics.stats.strata import iter_strata

GRID_STEPS: tuple[int, ...] = (30, 60, 90, 180, 365)  # days; months, quarters, half-years, years
GRID_MAX_INTERVALS = 12


def grid_days(max_day: float) -> list[int]:
    """Tick days from 0 to the first multiple of the step ≥ ``max_day``: the smallest step of
    GRID_STEPS (else whole years) giving at most GRID_MAX_INTERVALS intervals."""
    if not max_day or max_day <= 0 or math.isnan(max_day):
        return [0]
    step = next((s for s in GRID_STEPS if max_day / s <= GRID_MAX_INTERVALS), 365 * math.ceil(max_day / 365 / GRID_MAX_INTERVALS))
    return list(range(0, int(math.ceil(max_day / step)) * step + 1, step))


def _step_values(points: list[dict[str, Any]], n: int, days: list[int], start: float, last_day: float) -> list[float | None]:
    """The curve's step-function value at each day: ``start`` before its first step, None past follow-up."""
    times = np.array([p["day"] for p in points], dtype=float)
    values = [p["estimate"] for p in points]
    out: list[float | None] = []
    for day in days:
        if n == 0 or day > last_day:
            out.append(None)
            continue
        i = int(np.searchsorted(times, day, side="right")) - 1
        out.append(start if i < 0 else values[i])
    return out


def time_grid_section(adtte, section: dict[str, Any], curves_key: str, endpoint: str, strata, *, start: float) -> dict[str, Any]:
    """``days`` spanning the longest follow-up, and per stratum ``at_risk`` (time ≥ day) and the curve's
    ``estimate`` at each day (None past that stratum's last follow-up).

    ``section``: a :func:`curves_section` (as in result.json) whose ``section[curves_key][stratum]`` are
    the curve's points and ``section["curves"][stratum]`` has ``n`` (its patient count) and ``skipped_reason``
    (not None: the curve is not estimable, its ``estimate`` None at every day)."""
    points, curves = section[curves_key], section["curves"]
    times = {key: endpoint_time_status(sub, endpoint)[0] for key, sub in iter_strata(adtte, strata)}
    longest = max((float(t.max()) for t in times.values() if len(t)), default=0.0)
    days = grid_days(longest)
    at_risk, estimate = {}, {}
    for key, t in times.items():
        ordered = np.sort(t)
        at_risk[key] = [int(len(ordered) - np.searchsorted(ordered, day, side="left")) for day in days]
        last = float(ordered[-1]) if len(ordered) else -1.0
        # a stratum whose curve job failed (analytics.fits: fit_failures) or whose curve is not estimable (a
        # skipped_reason: no points, yet patients) has at-risk counts but no estimates — never ``start`` (0 or 1)
        meta = curves.get(key, {})
        estimable = key in points and not meta.get("skipped_reason")
        estimate[key] = _step_values(points[key], meta["n"], days, start, last) if estimable else [None] * len(days)
    return {"days": days, "max_follow_up_days": longest, "at_risk": at_risk, "estimate": estimate}
