"""Patient-reported outcomes (issue 15): completion of the pain questionnaire by source, and pain response
by source as a sensitivity analysis.

Input: ``adresp`` (one row per ITT patient × follow-up visit, docs/analytics-methods.md "Input frames") with
``worst_pain`` and ``pain_source`` ("patient": the patient answered by link; "staff": entered by site staff;
missing when there is no worst pain). ADRESP's rows are the visit's ITT population, so:

- **expected** = ITT patients at the visit (alive and on study at its target day, docs/domain.md §4);
- **received** = those with a worst-pain value; **received by source** splits them by ``pain_source``;
- **completion rate** = received / expected, overall and per source (the per-source rates add up to the overall).

The sensitivity analysis repeats the pain response rate among evaluable patients (CR + PR over CR + PR + PD +
indeterminate, docs/domain.md §4) separately for patient-reported and staff-entered pain, with Wilson 95% CIs
(Wilson 1927; R ``prop.test(correct = FALSE)``), so a reader sees whether the mode of collection moves the result.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd
from statsmodels.stats.proportion import proportion_confint

from analytics.stats.response import NOT_EVALUABLE, RESPONDERS, _visit_order, response_column
from analytics.stats.results import Result, ratio
from analytics.stats.strata import as_text, require_columns

SOURCES = ("patient", "staff")
PRO_COLUMNS = ("study_id", "visit", "worst_pain", "pain_source")


@dataclass(frozen=True)
class ProCompletion(Result):
    """One follow-up visit: expected (ITT), received, and received per source with the completion rates."""

    visit: str
    expected: int
    received: int
    received_by_source: dict[str, int]
    completion_rate: float | None
    completion_rate_by_source: dict[str, float | None]


@dataclass(frozen=True)
class ResponseBySource(Result):
    """Pain response among evaluable patients whose pain at the visit came from ``source``."""

    visit: str
    source: str
    n_records: int  # ITT rows at the visit with pain from this source
    evaluable: int
    responders: int
    evaluable_rate: float | None
    ci_low: float | None  # Wilson 95%
    ci_high: float | None


def wilson_interval(hits: int, total: int, level: float = 0.95) -> tuple[float | None, float | None]:
    """Wilson score interval of hits/total (Wilson 1927, via statsmodels); (None, None) when total is 0."""
    if not total:
        return None, None
    low, high = proportion_confint(hits, total, alpha=1 - level, method="wilson")
    return float(low), float(high)


def pro_completion(adresp: pd.DataFrame) -> tuple[ProCompletion, ...]:
    """Completion of the pain questionnaire per follow-up visit, overall and by source (module docstring)."""
    require_columns(adresp, PRO_COLUMNS, name="adresp")
    results = []
    # Column arrays compared per visit, not a copy of adresp's rows per visit (issue 17, worker memory)
    visits = as_text(adresp["visit"]).to_numpy()
    recorded = adresp["worst_pain"].notna().to_numpy()
    source_of = adresp["pain_source"].to_numpy(dtype=object)
    for visit in _visit_order(set(visits)):
        at_visit = visits == visit
        received = recorded & at_visit
        n_expected, n_received = int(at_visit.sum()), int(received.sum())
        by_source = {s: int((received & (source_of == s)).sum()) for s in SOURCES}
        results.append(
            ProCompletion(
                visit=visit,
                expected=n_expected,
                received=n_received,
                received_by_source=by_source,
                completion_rate=ratio(n_received, n_expected),
                completion_rate_by_source={s: ratio(n, n_expected) for s, n in by_source.items()},
            )
        )
    return tuple(results)


def response_rates_by_source(adresp: pd.DataFrame, sources: Sequence[str] = SOURCES) -> tuple[ResponseBySource, ...]:
    """Pain response rate among evaluable patients per follow-up visit × pain source, with Wilson 95% CIs."""
    require_columns(adresp, PRO_COLUMNS, name="adresp")
    response = response_column(adresp)  # with_response's column, without its copy of adresp (issue 17, worker memory)
    is_evaluable = (response != NOT_EVALUABLE).to_numpy()
    is_responder = response.isin(RESPONDERS).to_numpy()
    visits = as_text(adresp["visit"]).to_numpy()
    source_of = adresp["pain_source"].to_numpy(dtype=object)
    results = []
    for visit in _visit_order(set(visits)):
        at_visit = visits == visit
        for source in sources:
            rows = at_visit & (source_of == source)
            evaluable = int((rows & is_evaluable).sum())
            responders = int((rows & is_responder).sum())
            low, high = wilson_interval(responders, evaluable)
            results.append(
                ResponseBySource(
                    visit=visit,
                    source=source,
                    n_records=int(rows.sum()),
                    evaluable=evaluable,
                    responders=responders,
                    evaluable_rate=ratio(responders, evaluable),
                    ci_low=low,
                    ci_high=high,
                )
            )
    return tuple(results)
