"""Visit schedule and visit status (docs/domain.md §2).

Day 0 is the index procedure date; windows are in days from day 0.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum


@dataclass(frozen=True)
class VisitDefinition:
    code: str
    label: str
    target_day: int
    window_start: int
    window_end: int

    def target_date(self, day0: dt.date) -> dt.date:
        return day0 + dt.timedelta(days=self.target_day)

    def window_dates(self, day0: dt.date) -> tuple[dt.date, dt.date]:
        return (day0 + dt.timedelta(days=self.window_start), day0 + dt.timedelta(days=self.window_end))


# docs/domain.md §2, registry default schedule.
DEFAULT_SCHEDULE: tuple[VisitDefinition, ...] = (
    VisitDefinition("baseline", "Baseline", 0, -14, 0),
    VisitDefinition("day3", "Day 3", 3, 2, 4),
    VisitDefinition("week1", "Week 1", 7, 5, 10),
    VisitDefinition("month1", "Month 1", 30, 21, 42),
    VisitDefinition("month3", "Month 3", 90, 75, 105),
    VisitDefinition("month6", "Month 6", 180, 150, 210),
    VisitDefinition("month12", "Month 12", 365, 330, 400),
)
VISITS_BY_CODE = {v.code: v for v in DEFAULT_SCHEDULE}
VISIT_CODES = tuple(v.code for v in DEFAULT_SCHEDULE)
FOLLOW_UP_CODES = VISIT_CODES[1:]
VISIT_CHOICES = [(v.code, v.label) for v in DEFAULT_SCHEDULE]


class VisitStatus(StrEnum):
    UPCOMING = "upcoming"
    DUE = "due"
    OVERDUE = "overdue"
    MISSED = "missed"
    COMPLETED = "completed"
    NOT_APPLICABLE = "not_applicable"
    NOT_DONE = "not_done"


def visit_status(
    definition: VisitDefinition,
    *,
    day0: dt.date,
    on: dt.date,
    has_data: bool,
    exit_date: dt.date | None = None,
    not_done: bool = False,
) -> VisitStatus:
    """Status of one visit on day ``on`` (docs/domain.md §2).

    Registry convention for exits: a visit without data whose window had not
    closed by the exit date is not applicable; one whose window closed before
    the exit stays missed. A visit recorded as not done (with a reason) is
    ``NOT_DONE``, never missed or overdue.
    """
    if has_data:
        return VisitStatus.COMPLETED
    if not_done:
        return VisitStatus.NOT_DONE
    start, end = definition.window_dates(day0)
    if exit_date is not None and exit_date <= end and on > exit_date:
        return VisitStatus.NOT_APPLICABLE
    if on < start:
        return VisitStatus.UPCOMING
    if on > end:
        return VisitStatus.MISSED
    if on <= definition.target_date(day0):
        return VisitStatus.DUE
    return VisitStatus.OVERDUE


def is_in_window(visit_date: dt.date, window_start: dt.date, window_end: dt.date) -> bool:
    """True when the visit date lies in its window, both ends included (docs/domain.md §2).

    The one in-window rule: the visit service, rescheduling and the seeder all flag
    ``out_of_window`` with it, from the window stored on the visit.
    """
    return window_start <= visit_date <= window_end
