"""Report run parameters: defaults, validation and the canonical form used for reuse.

Two requests are "the same parameters" when their canonical forms are equal;
the canonical form sorts nothing the user ordered on purpose (strata order is
the order of the report) but fills every default, so ``{}`` and the explicit
default request match.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from typing import Any

from analytics.stats.propensity import CONTRASTS
from analytics.stats.strata import STRATA_VARIABLES
from trials.domain.schedule import FOLLOW_UP_CODES
from trials.errors import DomainValidationError


@dataclass(frozen=True)
class RunParameters:
    strata: tuple[str, ...] = STRATA_VARIABLES
    visits: tuple[str, ...] = FOLLOW_UP_CODES
    # docs/domain.md §6: hypercalcaemia is recorded but counts as an SRE only when switched on.
    include_hypercalcaemia: bool = False
    # Issue 16: binary contrasts compared with propensity-score weights (analytics.stats.propensity.CONTRASTS).
    contrasts: tuple[str, ...] = tuple(CONTRASTS)

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["strata"] = list(self.strata)
        data["visits"] = list(self.visits)
        data["contrasts"] = list(self.contrasts)
        return data

    @property
    def key(self) -> str:
        """sha256 of the canonical JSON form; equal parameters ↔ equal keys."""
        return hashlib.sha256(json.dumps(self.as_dict(), sort_keys=True).encode()).hexdigest()


def parameters_parse(raw: dict[str, Any] | None) -> RunParameters:
    """Validate a parameters dict (missing keys take defaults); errors name the field and rule."""
    raw = dict(raw or {})
    errors: dict[str, str] = {}
    unknown = set(raw) - {"strata", "visits", "include_hypercalcaemia", "contrasts"}
    if unknown:
        errors["parameters"] = f"Unknown parameter(s): {', '.join(sorted(unknown))}."
    strata = _choice_list(raw.get("strata", STRATA_VARIABLES), STRATA_VARIABLES, "strata", errors)
    visits = _choice_list(raw.get("visits", FOLLOW_UP_CODES), FOLLOW_UP_CODES, "visits", errors)
    contrasts = _choice_list(raw.get("contrasts", tuple(CONTRASTS)), tuple(CONTRASTS), "contrasts", errors)
    hypercalcaemia = raw.get("include_hypercalcaemia", False)
    if not isinstance(hypercalcaemia, bool):
        errors["include_hypercalcaemia"] = "Must be true or false."
    if visits == ():
        errors["visits"] = "At least one follow-up visit is required."
    if errors:
        raise DomainValidationError(errors)
    # Visits are reported in schedule order whatever order they were requested in.
    visits = tuple(v for v in FOLLOW_UP_CODES if v in visits)
    return RunParameters(strata=strata, visits=visits, include_hypercalcaemia=hypercalcaemia, contrasts=contrasts)


def _choice_list(value: Any, allowed: tuple[str, ...], field: str, errors: dict[str, str]) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [v.strip() for v in value.split(",") if v.strip()]
    if not isinstance(value, list | tuple):
        errors[field] = f"Must be a list drawn from: {', '.join(allowed)}."
        return ()
    bad = [v for v in value if v not in allowed]
    if bad:
        errors[field] = f"Unknown value(s) {', '.join(map(str, bad))}; allowed: {', '.join(allowed)}."
        return ()
    return tuple(dict.fromkeys(value))  # de-duplicated, order kept
