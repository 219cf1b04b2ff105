"""Age in whole years (docs/domain.md §10).

The registry holds the birth year only. Registry convention: age is the enrollment year minus the
birth year, for the eligibility check (≥ 21, §1), the sponsor view and exports, and the analysis.
"""

from __future__ import annotations

from typing import TypeVar

Years = TypeVar("Years")  # an int, or a pandas Series of years (the rule is elementwise)


def age_years(birth_year: Years, enrollment_year: Years) -> Years:
    """Age in whole years at enrollment: ``enrollment_year − birth_year`` (ints or pandas Series)."""
    return enrollment_year - birth_year  # type: ignore[operator]
