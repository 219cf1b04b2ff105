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
    neurological_signs: tuple[str, ...] = (),
) -> list[CriterionResult]:
    """Evaluate each docs/domain.md §1 criterion; the caller decides what failure means.

    ``neurological_signs``: the baseline signs of impending cord or nerve injury that are present
    (``neurological_signs_present``); any one of them is a contraindication.
    """
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
        CriterionResult(
            "age", "birth_year", None if age is None else age >= MIN_AGE, f"Age must be ≥ {MIN_AGE} (computed: {age})."
        ),
        CriterionResult(
            "life_expectancy",
            "life_expectancy_over_3_months",
            bool(life_expectancy_over_3_months),
            "Life expectancy must be more than 3 months.",
        ),
        CriterionResult(
            "no_neurological_deficit",
            neurological_signs[0] if neurological_signs else "frankel_grade",
            not neurological_signs,
            "New neurological signs at baseline ("
            + ", ".join(NEUROLOGICAL_SIGN_LABELS[s] for s in neurological_signs)
            + ") suggest impending cord or nerve injury: a contraindication to ablation."
            if neurological_signs
            else "No new bowel or bladder dysfunction, motor weakness or foot drop, and Frankel/ASIA grade E (or not assessed).",
        ),
    ]
    return results


# Clinical signs of impending cord or nerve injury (seed interview; docs/domain.md §1). Imaging signs such as a
# blown-out posterior wall or epidural involvement are not contraindications by themselves.
NEUROLOGICAL_SIGN_LABELS = {
    "new_bowel_bladder_dysfunction": "new bowel or bladder dysfunction",
    "new_motor_weakness": "new motor weakness",
    "foot_drop": "foot drop",
    "frankel_grade": "Frankel/ASIA grade below E",
}
NORMAL_FRANKEL_GRADES = ("", "E")  # E = normal motor and sensory function; blank = not assessed


def neurological_signs_present(
    *,
    new_bowel_bladder_dysfunction: bool = False,
    new_motor_weakness: bool = False,
    foot_drop: bool = False,
    frankel_grade: str = "",
) -> tuple[str, ...]:
    """Names of the baseline neurological signs present, in a fixed order (empty when none)."""
    present = {
        "new_bowel_bladder_dysfunction": bool(new_bowel_bladder_dysfunction),
        "new_motor_weakness": bool(new_motor_weakness),
        "foot_drop": bool(foot_drop),
        "frankel_grade": (frankel_grade or "") not in NORMAL_FRANKEL_GRADES,
    }
    return tuple(name for name, flag in present.items() if flag)


def _sre_risk(region, sins_total, lesion_type, mechanical_or_functional_pain) -> CriterionResult:
    code, field = "high_sre_risk", "lesion"
    if region == "spine":
        if sins_total is None:
            return CriterionResult(
                code, "lesion.sins", None, "A spine lesion needs all SINS components to judge SRE risk (SINS ≥ 7)."
            )
        return CriterionResult(
            code,
            "lesion.sins",
            sins_total >= MIN_SINS_SPINE,
            f"A spine lesion needs SINS ≥ {MIN_SINS_SPINE} (SINS {sins_total}).",
        )
    if region in ("pelvis", "peripheral"):
        met = lesion_type == "lytic" and bool(mechanical_or_functional_pain)
        return CriterionResult(
            code, field, met, "A pelvic or appendicular lesion must be lytic and cause functional or mechanical pain."
        )
    return CriterionResult(code, "lesion.region", None, "The lesion region (spine, pelvis, peripheral) is required.")


def failed(results: list[CriterionResult]) -> list[CriterionResult]:
    return [r for r in results if r.met is not True]
