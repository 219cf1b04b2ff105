"""Skeletal-related events (docs/domain.md §6).

Registry convention: radiation that belongs to the planned course of the index lesion is treatment,
never an SRE; only radiation to bone outside every planned course counts. One rule, used by the
SRE service (it refuses such an SRE), the seeder (it never generates one) and the analysis (it
drops any that slipped in, e.g. a course recorded after the event).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import TypeVar

RADIATION_TO_BONE = "radiation_to_bone"
HYPERCALCAEMIA = "hypercalcaemia"

Dates = TypeVar("Dates")  # a date, or a pandas Series of dates (the rule is elementwise)


def during_planned_radiation(event_date: Dates, course_start: Dates, course_end: Dates) -> Dates:
    """True where the event date lies inside the planned course, both ends included (dates or Series)."""
    return (course_start <= event_date) & (event_date <= course_end)  # type: ignore[operator]


def planned_course_covering(event_date: dt.date, courses: Iterable[tuple[dt.date, dt.date]]) -> tuple[dt.date, dt.date] | None:
    """The first planned course (start, end) that covers ``event_date``, or None."""
    return next((c for c in courses if during_planned_radiation(event_date, c[0], c[1])), None)


def is_planned_radiation(event_type: str, event_date: dt.date, courses: Iterable[tuple[dt.date, dt.date]]) -> bool:
    """True for radiation to bone inside a planned course: recorded as treatment, not as an SRE."""
    return event_type == RADIATION_TO_BONE and planned_course_covering(event_date, courses) is not None
