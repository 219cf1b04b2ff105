"""Endpoint extraction and risk-set tables shared by KM, Aalen–Johansen and
log-rank (docs/domain.md §6).

Endpoints of the ``adtte`` frame (one row per patient, times in days from
day 0):
- ``os``: ``os_days``, ``os_event`` (1 death, 0 censored).
- ``sre``: ``sre_days``, ``sre_event`` (1 first SRE, 2 death without a prior
  SRE — a competing event, 0 censored).

Risk sets are exact: at a time t the risk set is every subject with time
≥ t (subjects censored at t are still at risk at t), and all events at t —
of any cause — share that risk set. No jitter, so every run gives the same
numbers.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from trials.domain.schedule import VISITS_BY_CODE

from .strata import require_columns

SRE, DEATH_WITHOUT_SRE, CENSORED = 1, 2, 0
# "ltp": local tumour progression (analytics.local_control's adltp; 1 LTP, 2 death without LTP, 0 censored).
ENDPOINT_COLUMNS = {"os": ("os_days", "os_event"), "sre": ("sre_days", "sre_event"), "ltp": ("ltp_days", "ltp_event")}
# Landmark days: target days of months 1, 3, 6, 12 (docs/domain.md §2).
LANDMARK_DAYS: tuple[int, ...] = tuple(VISITS_BY_CODE[v].target_day for v in ("month1", "month3", "month6", "month12"))


@dataclass(frozen=True)
class RiskSetTable:
    """Distinct times with ≥ 1 event (ascending), at-risk counts and events by cause."""

    times: np.ndarray
    at_risk: np.ndarray
    events: dict[int, np.ndarray]
    n: int
    max_time: float

    @property
    def all_events(self) -> np.ndarray:
        return sum(self.events.values(), np.zeros(len(self.times)))


def clean_time_status(time, status) -> tuple[np.ndarray, np.ndarray]:
    """Float times and integer statuses with missing rows dropped.

    Raises ValueError on negative times or non-integer statuses.
    """
    t = pd.to_numeric(pd.Series(np.asarray(time, dtype=object)), errors="raise").astype(float).to_numpy()
    s = pd.to_numeric(pd.Series(np.asarray(status, dtype=object)), errors="raise").astype(float).to_numpy()
    if len(t) != len(s):
        raise ValueError("time and status differ in length")
    keep = ~(np.isnan(t) | np.isnan(s))
    t, s = t[keep], s[keep]
    if np.any(t < 0):
        raise ValueError("event times must be ≥ 0 days from day 0")
    if np.any(s != np.round(s)) or np.any(s < 0):
        raise ValueError("status must be 0 (censored) or a positive integer cause")
    return t, s.astype(int)


def risk_set_table(time: np.ndarray, status: np.ndarray) -> RiskSetTable:
    """Tabulate n at risk and events per cause at every distinct event time."""
    order = np.sort(time)
    event_times = np.unique(time[status > 0])
    at_risk = len(time) - np.searchsorted(order, event_times, side="left")
    events = {}
    for cause in sorted(set(status[status > 0].tolist())):
        counts = pd.Series(time[status == cause]).value_counts()
        events[cause] = counts.reindex(event_times, fill_value=0).to_numpy().astype(float)
    return RiskSetTable(
        times=event_times,
        at_risk=at_risk.astype(float),
        events=events,
        n=len(time),
        max_time=float(order[-1]) if len(order) else float("nan"),
    )


def endpoint_time_status(adtte: pd.DataFrame, endpoint: str) -> tuple[np.ndarray, np.ndarray]:
    """(time, status) of ``endpoint`` ("os" or "sre") with missing rows dropped."""
    if endpoint not in ENDPOINT_COLUMNS:
        raise ValueError(f"unknown endpoint {endpoint!r}; expected one of {sorted(ENDPOINT_COLUMNS)}")
    time_col, status_col = ENDPOINT_COLUMNS[endpoint]
    require_columns(adtte, [time_col, status_col], name="adtte")
    return clean_time_status(adtte[time_col].to_numpy(), adtte[status_col].to_numpy())


def cause_specific(status: np.ndarray, cause: int = SRE) -> np.ndarray:
    """1 for ``cause``, 0 otherwise: other causes (deaths) are censored."""
    return (status == cause).astype(int)


def step_index(times: np.ndarray, day: float) -> int:
    """Index of the last time ≤ ``day`` (−1 when none)."""
    return int(np.searchsorted(times, day, side="right")) - 1
