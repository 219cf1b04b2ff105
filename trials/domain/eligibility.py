"""Eligibility at enrollment (docs/domain.md §1), one result per criterion."""

from __future__ import annotations

from dataclasses import dataclass

MIN_WORST_PAIN = 5  # BPI worst pain (24 h recall) ≥ 5
MIN_SINS_SPINE = 7  # spine lesion with SINS ≥ 7
MAX_ECOG = 2  # ECOG 0–2
MIN_AGE = 21  # age ≥ 21


@dataclass(frozen=True)
class CriterionResult:
    code: str
    field: str
    met: bool | None  # None = cannot be judged from what was entered
    message: str


def eligibility_check(
    *,
    screening_worst_pain: int | None,
    prior_treatment_of_index_lesion: bool,
    region: str | None,
    sins_total: int | None,
    lesion_type: str | None,
    mechanical_or_functional_pain: bool,
    ecog: int | None,
    age: int | None,
    life_expectancy_over_3_months: bool,
) -> list[CriterionResult]:
    """Evaluate each docs/domain.md §1 criterion; the caller decides what failure means."""
    results = [
        CriterionResult(
            "worst_pain",
            "screening_worst_pain",
            None if screening_worst_pain is None else screening_worst_pain >= MIN_WORST_PAIN,
            f"BPI worst pain at baseline must be ≥ {MIN_WORST_PAIN} (entered: {screening_worst_pain}).",
        ),
        CriterionResult(
            "untreated_index_lesion",
            "prior_treatment_of_index_lesion",
            not prior_treatment_of_index_lesion,
            "The index lesion must have had no prior radiation or ablation.",
        ),
        _sre_risk(region, sins_total, lesion_type, mechanical_or_functional_pain),
        CriterionResult(
            "ecog",
            "ecog",
            None if ecog is None else ecog <= MAX_ECOG,
            f"ECOG performance status must be 0–{MAX_ECOG} (entered: {ecog}).",
        ),
        CriterionResult("age", "birth_year", None if age is None else age >= MIN_AGE, f"Age must be ≥ {MIN_AGE} (computed: {age})."),
        CriterionResult(
            "life_expectancy",
            "life_expectancy_over_3_months",
            bool(life_expectancy_over_3_months),
            "Life expectancy must be more than 3 months.",
        ),
    ]
    return results


def _sre_risk(region, sins_total, lesion_type, mechanical_or_functional_pain) -> CriterionResult:
    code, field = "high_sre_risk", "lesion"
    if region == "spine":
        if sins_total is None:
            return CriterionResult(code, "lesion.sins", None, "A spine lesion needs all SINS components to judge SRE risk (SINS ≥ 7).")
        return CriterionResult(code, "lesion.sins", sins_total >= MIN_SINS_SPINE, f"A spine lesion needs SINS ≥ {MIN_SINS_SPINE} (SINS {sins_total}).")
    if region in ("pelvis", "peripheral"):
        met = lesion_type == "lytic" and bool(mechanical_or_functional_pain)
        return CriterionResult(
            code, field, met, "A pelvic or appendicular lesion must be lytic and cause functional or mechanical pain."
        )
    return CriterionResult(code, "lesion.region", None, "The lesion region (spine, pelvis, peripheral) is required.")


def failed(results: list[CriterionResult]) -> list[CriterionResult]:
    return [r for r in results if r.met is not True]
