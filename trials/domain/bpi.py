"""Brief Pain Inventory short form (docs/domain.md §3)."""

from __future__ import annotations

from collections.abc import Iterable

INTENSITY_ITEMS = ("worst", "least", "average", "current")
INTERFERENCE_ITEMS = (
    "general_activity",
    "mood",
    "walking_ability",
    "normal_work",
    "relations",
    "sleep",
    "enjoyment_of_life",
)
MIN_INTERFERENCE_ANSWERED = 4


def interference_score(values: Iterable[float | None]) -> float | None:
    """Mean of the answered interference items when ≥ 4 of 7 are answered, else missing."""
    answered = [float(v) for v in values if v is not None]
    if len(answered) < MIN_INTERFERENCE_ANSWERED:
        return None
    return sum(answered) / len(answered)
