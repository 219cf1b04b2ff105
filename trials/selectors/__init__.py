"""Read-side query building shared by services, web pages, exports and the data-quality rules (issue 10, A.6).

Each "load X with Y" is written here once; callers compose these with their own scoping and ordering.
"""

from trials.selectors.visits import (
    ACTIVE_MEDICATIONS,
    active_medications,
    active_medications_prefetch,
    visits_with_pain_and_medications,
)

__all__ = ["ACTIVE_MEDICATIONS", "active_medications", "active_medications_prefetch", "visits_with_pain_and_medications"]
