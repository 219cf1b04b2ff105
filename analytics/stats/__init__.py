"""Outcome statistics of the registry: pure functions from pandas DataFrames to
typed, frozen result dataclasses (``to_dict()`` gives JSON-ready Python).

No ORM here: frames are built elsewhere (contracts in docs/analytics-methods.md)
and every rule cites docs/domain.md.
"""

from .competing_risks import aalen_johansen_curve, sre_cumulative_incidence
from .complications import complication_summaries, complication_summary
from .cox import cox_fit, cox_fits, cox_not_computed
from .descriptive import omed_visit_summaries, pain_visit_summaries
from .gray import gray_test, gray_tests
from .logrank import logrank_by, logrank_test, logrank_tests
from .response import (
    pain_response_classify,
    pain_response_classify_frame,
    pain_response_rates,
    with_response,
)
from .strata import ALL, STRATA_VARIABLES, iter_strata
from .survival import kaplan_meier_curve, overall_survival, sre_one_minus_km
from .time_to_response import time_to_response

__all__ = [
    "ALL",
    "STRATA_VARIABLES",
    "aalen_johansen_curve",
    "complication_summaries",
    "complication_summary",
    "cox_fit",
    "cox_fits",
    "cox_not_computed",
    "gray_test",
    "gray_tests",
    "iter_strata",
    "kaplan_meier_curve",
    "logrank_by",
    "logrank_test",
    "logrank_tests",
    "omed_visit_summaries",
    "overall_survival",
    "pain_response_classify",
    "pain_response_classify_frame",
    "pain_response_rates",
    "pain_visit_summaries",
    "sre_cumulative_incidence",
    "sre_one_minus_km",
    "time_to_response",
    "with_response",
]
