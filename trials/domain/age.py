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


AGE_TOP_CATEGORY = 90  # HIPAA Safe Harbor: ages over 89 are reported only as one category "90+"


def age_reported(age: int) -> int | str:
    """An age in whole years as a de-identified data set may show it: the age itself, or ``"90+"`` from 90 on.

    Source: 45 CFR 164.514(b)(2)(i)(C) — ages over 89 aggregated into a single category of 90 or older
    (docs/domain.md §10).
    """
    return f"{AGE_TOP_CATEGORY}+" if age >= AGE_TOP_CATEGORY else age


def age_deidentified(enrollment_year: int, birth_year: int) -> int | str:
    """Age at enrollment in whole years (enrollment year − birth year); ``"90+"`` for 90 and over (``age_reported``)."""
    return age_reported(age_years(birth_year, enrollment_year))
