"""Brief Pain Inventory short form (docs/domain.md §3).

The interference rule (mean of the 7 items when ≥ 4 are answered) lives with the instrument: it is read from the
shipped definition ``pro/instruments/bpi_sf.json`` and applied with ``trials.domain.scoring``, the same rule and
function the patient's questionnaire uses (``pro.scoring``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

from trials.domain import scoring

BPI_DEFINITION_FILE = Path(__file__).resolve().parents[2] / "pro" / "instruments" / "bpi_sf.json"
_RULES = {rule["code"]: rule for rule in json.loads(BPI_DEFINITION_FILE.read_text(encoding="utf-8"))["scoring"]}
INTERFERENCE_RULE: dict = _RULES["interference"]

INTENSITY_ITEMS = ("worst", "least", "average", "current")
INTERFERENCE_ITEMS: tuple[str, ...] = tuple(INTERFERENCE_RULE["items"])
MIN_INTERFERENCE_ANSWERED: int = INTERFERENCE_RULE["min_answered"]


def interference_score(values: Iterable[float | None]) -> float | None:
    """Mean of the answered interference items when ≥ 4 of 7 are answered, else missing.

    ``values``: the 7 items in ``INTERFERENCE_ITEMS`` order (0–10 or None). The BPI definition's rule."""
    return scoring.apply(INTERFERENCE_RULE, dict(zip(INTERFERENCE_ITEMS, values, strict=False)))
