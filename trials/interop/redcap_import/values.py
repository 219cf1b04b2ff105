"""REDCap cell text → registry values: dates in the accepted formats, typed conversion and declared missing-data codes."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from django.db import models

from trials.domain import missing

if TYPE_CHECKING:
    from trials.interop.redcap_import.mapping import FieldRule

DATE_FORMATS = {"YMD": ("%Y-%m-%d", "YYYY-MM-DD"), "MDY": ("%m/%d/%Y", "M/D/YYYY"), "DMY": ("%d/%m/%Y", "D/M/YYYY")}


def _date(value: str, date_format: str) -> dt.date:
    pattern, shown = DATE_FORMATS[date_format]
    try:
        return dt.datetime.strptime(value, pattern).date()  # noqa: DTZ007 - a calendar date, no time of day
    except ValueError:
        others = ", ".join(f"{k} ({v[1]})" for k, v in DATE_FORMATS.items() if k != date_format)
        raise ValueError(
            f"{value!r} is not a date in the accepted format {shown}; for files in another format use --date-format ({others})"
        ) from None


def _convert(value: str, model_field: models.Field | None, target: str, date_format: str) -> Any:
    """REDCap raw text → the registry's Python value, by the target field's type."""
    if target.startswith("pain.") or isinstance(model_field, models.IntegerField):
        if not value.lstrip("-").isdigit():
            raise ValueError(f"{value!r} is not a whole number")
        return int(value)
    if target == "visit_date" or isinstance(model_field, models.DateField):
        return _date(value, date_format)
    if isinstance(model_field, models.BooleanField):
        lowered = value.lower()
        if lowered not in {"1", "0", "yes", "no", "true", "false"}:
            raise ValueError(f"{value!r} is not yes/no (1/0)")
        return lowered in {"1", "yes", "true"}
    if isinstance(model_field, models.DecimalField):
        try:
            return Decimal(value)
        except InvalidOperation:
            raise ValueError(f"{value!r} is not a number") from None
    return value


@dataclass(frozen=True)
class MissingCode:
    """A BPI item's declared missing-data code read from a cell (stored in ``Visit.missing_codes``, not as a value)."""

    code: str


def _missing_code(rule: FieldRule, raw: str) -> MissingCode:
    """A declared code in a ``pain.<item>`` field that is one of the product's codes; anything else is refused."""
    accepted = ", ".join(missing.MISSING_CODES)
    if not rule.target.startswith("pain."):
        raise ValueError(
            f"{raw!r} is a missing-data code declared for {rule.source}, but the registry keeps missing-data "
            f"codes for the BPI items (pain.*) only, not for {rule.target}; leave the cell blank if the value "
            "was not collected"
        )
    if raw not in missing.MISSING_CODES:
        raise ValueError(
            f"missing-data code {raw!r} declared for {rule.source} is not one of the registry's codes "
            f"({accepted}); recode it in REDCap or leave the cell blank"
        )
    return MissingCode(raw)
