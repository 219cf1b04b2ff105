"""Opioid conversion to oral morphine milligram equivalents (docs/domain.md §5).

Source: CDC Clinical Practice Guideline for Prescribing Opioids for Pain,
MMWR Recomm Rep 2022;71(3). The table is versioned data: every derived MME
value stores the version that produced it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

MME_TABLE_VERSION = "CDC 2022"
PATCH_UNIT = "mcg/h"
# Registry decision (issue 12): for a transdermal patch (dose in mcg/h) "doses per day" means the number
# of patches worn at the same time; the delivered rate is dose × patches, so 25 mcg/h × 2 = 50 mcg/h = 120 MME/day.
PATCH_COUNT_MEANING = "patches worn at once"


@dataclass(frozen=True)
class OpioidConversion:
    drug: str
    route: str
    unit: str  # the unit the daily dose must be expressed in
    factor: Decimal


# drug -> conversion; oral unless stated (fentanyl is transdermal, mcg/h).
MME_TABLES: dict[str, dict[str, OpioidConversion]] = {
    MME_TABLE_VERSION: {
        c.drug: c
        for c in (
            OpioidConversion("codeine", "oral", "mg", Decimal("0.15")),
            OpioidConversion("fentanyl", "transdermal", "mcg/h", Decimal("2.4")),
            OpioidConversion("hydrocodone", "oral", "mg", Decimal("1")),
            OpioidConversion("hydromorphone", "oral", "mg", Decimal("5")),
            OpioidConversion("methadone", "oral", "mg", Decimal("4.7")),
            OpioidConversion("morphine", "oral", "mg", Decimal("1")),
            OpioidConversion("oxycodone", "oral", "mg", Decimal("1.5")),
            OpioidConversion("oxymorphone", "oral", "mg", Decimal("3")),
            OpioidConversion("tapentadol", "oral", "mg", Decimal("0.4")),
            OpioidConversion("tramadol", "oral", "mg", Decimal("0.2")),
        )
    }
}
CURRENT_TABLE = MME_TABLES[MME_TABLE_VERSION]
# Offered in the list, but converted only with an explicit factor and its source: CDC 2022 gives no factor for
# buprenorphine (a partial agonist; its MME would mislead, MMWR 2022;71(3) Table) nor for parenteral routes.
EXPLICIT_FACTOR_DRUGS = {"buprenorphine": "Buprenorphine (explicit factor)", "other": "Other (explicit factor)"}
DRUG_CHOICES = [(d, d.capitalize()) for d in sorted(CURRENT_TABLE)] + list(EXPLICIT_FACTOR_DRUGS.items())
ROUTE_CHOICES = [
    ("oral", "Oral"),
    ("transdermal", "Transdermal"),
    ("iv", "Intravenous"),
    ("sc", "Subcutaneous"),
    ("other", "Other"),
]
ROUTE_LABELS = dict(ROUTE_CHOICES)
EXPLICIT_FACTOR_HOW = (
    "enter the factor in 'Explicit MME factor' and where it comes from (e.g. your institution's equianalgesic table)"
)
UNIT_CHOICES = [("mg", "mg"), ("mcg/h", "mcg/h")]


class MMEError(ValueError):
    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field
        self.message = message


@dataclass(frozen=True)
class MMEResult:
    daily_dose: Decimal  # mg/day, or mcg/h in total for patches
    factor: Decimal
    mme_per_day: Decimal
    table_version: str


def known_combinations() -> str:
    return ", ".join(f"{c.drug} ({c.route}, {c.unit})" for c in CURRENT_TABLE.values())


def explicit_factor_guidance(drug: str, route: str) -> str:
    """What to do for a drug/route the current table cannot convert (shown beside the row, not a list of every drug)."""
    conv = CURRENT_TABLE.get(drug)
    start = f"No {MME_TABLE_VERSION} conversion factor"
    if drug == "buprenorphine":
        why = f"{start} for buprenorphine (a partial agonist)"
    elif conv is not None:
        given = ROUTE_LABELS.get(route, route or "this route").lower()
        why = f"{start} for {drug} by the {given} route (the table converts {conv.route} {drug})"
    else:
        why = f"{start} for {drug or 'this drug'}"
    return f"{why}: {EXPLICIT_FACTOR_HOW}."


def mme_per_day(
    *,
    drug: str,
    route: str,
    dose: Decimal,
    unit: str,
    doses_per_day: Decimal,
    explicit_factor: Decimal | None = None,
    factor_source: str = "",
) -> MMEResult:
    """MME/day = daily dose × factor, exact in Decimal, rounded half-even to 0.01 MME/day.

    Oral: dose (mg) × doses_per_day × factor. Fentanyl patch (unit mcg/h):
    dose (mcg/h) × doses_per_day × 2.4, where doses_per_day is the number of
    patches worn at once (a whole number; registry decision, issue 12).
    A drug/route outside the table is rejected unless the entry carries an
    explicit factor and its source. Raises MMEError naming the field: dose or
    doses_per_day ≤ 0 (never replaced by another value), a fractional patch
    count, unknown drug/route/unit, an explicit factor without its source.
    """
    dose = Decimal(dose)
    doses_per_day = Decimal(doses_per_day)
    if dose <= 0:
        raise MMEError("dose", "Dose must be positive.")
    if doses_per_day <= 0:
        raise MMEError("doses_per_day", "Doses per day must be positive (leave it blank for once a day).")
    if unit == PATCH_UNIT and doses_per_day != doses_per_day.to_integral_value():
        raise MMEError("doses_per_day", "For a patch (mcg/h) this is the number of patches worn at once: a whole number.")
    if explicit_factor is not None:
        if Decimal(explicit_factor) <= 0:
            raise MMEError("mme_factor", "An explicit MME factor must be positive.")
        if not factor_source.strip():
            raise MMEError("factor_source", "An explicit MME factor needs its source.")
        factor, version = Decimal(explicit_factor), f"explicit: {factor_source.strip()}"
    else:
        conv = CURRENT_TABLE.get(drug)
        if conv is None or conv.route != route:
            field = "drug" if conv is None else "route"
            raise MMEError(field, explicit_factor_guidance(drug, route))
        if unit != conv.unit:
            raise MMEError("unit", f"{drug} ({route}) doses must be in {conv.unit}, not {unit}.")
        factor, version = conv.factor, MME_TABLE_VERSION
    # Oral: mg per dose × doses per day. Patch: mcg/h per patch × patches worn at once.
    daily = dose * doses_per_day
    return MMEResult(daily, factor, (daily * factor).quantize(Decimal("0.01")), version)


def dose_label(dose: Decimal, unit: str, doses_per_day: Decimal) -> str:
    """How an entry's dose reads, e.g. "10 mg × 2/day" or "25 mcg/h × 2 patches at once"."""
    count = f"{Decimal(doses_per_day).normalize():f}"
    if unit == PATCH_UNIT:
        return f"{Decimal(dose).normalize():f} mcg/h × {count} patch{'es' if count != '1' else ''} at once"
    return f"{Decimal(dose).normalize():f} {unit} × {count}/day"


# A visit's opioid answer (docs/domain.md §5); the model's OpioidStatus choices use these values.
OPIOIDS_UNKNOWN, OPIOIDS_NONE, OPIOIDS_TAKING = "unknown", "none", "taking"


def visit_omed(opioid_status: str, mme_per_day: Iterable[Decimal]) -> Decimal | None:
    """Total MME/day (OMED) of one visit from its answer and its active entries' MME/day.

    ``"none"`` → 0 (an explicit answer, not missing); ``"taking"`` → the sum of the entries, and
    **missing** (None) when no entry is recorded: the dose is unknown, not zero (registry convention,
    docs/domain.md §5); ``"unknown"`` (not recorded) → None. The analysis follows the same rule
    (``analytics.derive.visit_omed``; a test checks they agree).
    """
    if opioid_status == OPIOIDS_NONE:
        return Decimal("0")
    if opioid_status != OPIOIDS_TAKING:
        return None
    values = list(mme_per_day)
    return sum(values, Decimal("0")) if values else None
