"""Repeated-measures model of pain (issue 16 item 1): hand-computable cases, statsmodels MixedLM and
recorded nlme::lme values, degenerate inputs (analytics/stats/mixed_model/)."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import pytest

from analytics.stats.mixed_model import ALL, mixed_model_fit, mixed_model_frame, mixed_models, reml_fit
from tests.analytics.r_oracle.mixed_cohort import VISITS, mixed_adtte_frame, mixed_pain_frame


def _balanced() -> pd.DataFrame:
    """8 patients (4 RFA, 4 cryo) with baselines 5, 6, 7, 8 in each arm, every visit present."""
    changes = {  # patient → change at day3, week1, month1
        "R1": (-1, -2, -3),
        "R2": (0, -2, -2),
        "R3": (-2, -3, -5),
        "R4": (-1, -1, -2),
        "C1": (0, -1, -1),
        "C2": (1, 0, -2),
        "C3": (-1, -1, -1),
        "C4": (0, 0, -3),
    }
    rows = []
    for i, (pid, deltas) in enumerate(changes.items()):
        baseline = 5 + i % 4
        modality = "RFA" if pid.startswith("R") else "cryo"
        rows.append((pid, "baseline", baseline, modality))
        rows += [(pid, visit, baseline + d, modality) for visit, d in zip(("day3", "week1", "month1"), deltas, strict=True)]
    return pd.DataFrame(rows, columns=["study_id", "visit", "worst", "modality"])


def _means(result) -> dict[tuple[str, str], float]:
    return {(m.visit, m.level): m.estimate for m in result.means}


def test_balanced_design_gives_the_cell_means():
    """Balanced, complete data with equal baseline means per arm: GLS = OLS, and the model-based mean change
    at the mean baseline is the raw mean change of each visit × arm cell (hand-computed)."""
    pain = _balanced()
    unstratified, by_modality = mixed_models(
        pain, strata_variables=("modality",), visits=("day3", "week1", "month1"), endpoints=("worst",)
    )
    assert by_modality.n_patients == 8 and by_modality.n_observations == 24 and by_modality.converged
    expected = {  # mean of the four changes per cell
        ("day3", "RFA"): -1.0,
        ("week1", "RFA"): -2.0,
        ("month1", "RFA"): -3.0,
        ("day3", "cryo"): 0.0,
        ("week1", "cryo"): -0.5,
        ("month1", "cryo"): -1.75,
    }
    got = _means(by_modality)
    assert {k: round(v, 10) for k, v in got.items()} == expected
    differences = {(d.visit, d.level): d.estimate for d in by_modality.differences}
    assert by_modality.reference_level == "RFA" and by_modality.levels == ("RFA", "cryo")
    assert differences == pytest.approx({("day3", "cryo"): 1.0, ("week1", "cryo"): 1.5, ("month1", "cryo"): 1.25}, abs=1e-10)
    assert _means(unstratified) == pytest.approx({("day3", ALL): -0.5, ("week1", ALL): -1.25, ("month1", ALL): -2.375}, abs=1e-10)
    # every CI is the estimate ± 1.96 SE, and the SE of a difference exceeds that of a mean
    for m in by_modality.means:
        assert m.ci_low == pytest.approx(m.estimate - 1.959963984540054 * m.se)
    assert min(d.se for d in by_modality.differences) > max(m.se for m in by_modality.means)


def test_reml_fit_matches_statsmodels_mixedlm():
    from statsmodels.regression.mixed_linear_model import MixedLM

    rows, _ = mixed_model_frame(mixed_pain_frame(), "worst", visits=VISITS)
    x = np.column_stack(
        [np.ones(len(rows)), *((rows["visit"] == v).to_numpy(float) for v in VISITS[1:]), rows["baseline"].to_numpy(float)]
    )
    y, groups = rows["change"].to_numpy(float), rows["study_id"].to_numpy()
    ours = reml_fit(y, x, groups)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = MixedLM(y, x, groups=groups).fit(reml=True, method="bfgs")
    assert theirs.converged
    np.testing.assert_allclose(ours.beta, theirs.fe_params, atol=1e-6)
    assert ours.sigma2 == pytest.approx(theirs.scale, rel=1e-5)
    assert ours.tau2 == pytest.approx(float(np.asarray(theirs.cov_re)[0, 0]), rel=1e-4)
    np.testing.assert_allclose(np.sqrt(np.diag(ours.cov)), theirs.bse_fe, rtol=1e-3)  # statsmodels: inverse Hessian


# nlme::lme(change ~ visit * modality + baseline, random = ~1 | study_id, method = "REML") on the hand-made
# cohort (tests/analytics/r_oracle/mixed_model.R, R 4.2.2, nlme 3.1): (estimate, SE)
NLME_MODALITY = {
    "(Intercept)": (0.0923883090838655, 1.01136001466825),
    "visitweek1": (-0.398412103408245, 0.448374337374598),
    "visitmonth1": (-0.943866648862791, 0.448374337374599),
    "visitmonth3": (-1.23739848836647, 0.461297331878801),
    "visitmonth6": (-2.3768341776395, 0.476728586271518),
    "modalitycryoablation": (0.705668283285, 0.564475158757721),
    "baseline": (-0.317431740158921, 0.11695084503708),
    "visitweek1:modalitycryoablation": (0.77273205728494, 0.62455194766721),
    "visitmonth1:modalitycryoablation": (-0.132167762393629, 0.61689967813274),
    "visitmonth3:modalitycryoablation": (0.171837539644315, 0.642841826413779),
    "visitmonth6:modalitycryoablation": (0.679128959194113, 0.651089925802723),
}


def test_fixed_effects_match_recorded_nlme_values():
    results = mixed_models(
        mixed_pain_frame(), adtte=mixed_adtte_frame(), strata_variables=("modality",), visits=VISITS, endpoints=("worst",)
    )
    model = results[1]
    got = {fe.term: (fe.estimate, fe.se) for fe in model.fixed_effects}
    assert list(got) == list(NLME_MODALITY)
    for term, (estimate, se) in NLME_MODALITY.items():
        assert got[term][0] == pytest.approx(estimate, abs=1e-5), term
        assert got[term][1] == pytest.approx(se, abs=1e-5), term
    assert model.random_intercept_variance == pytest.approx(0.6443277, abs=1e-5)
    # the model-based mean at the reference cell is intercept + slope × mean baseline
    first = next(m for m in model.means if m.visit == "day3" and m.level == "RFA")
    assert first.estimate == pytest.approx(got["(Intercept)"][0] + got["baseline"][0] * model.baseline_mean)
    assert model.notes == ("3 record(s) dated after the day of death excluded.",)


def test_deaths_truncate_follow_up():
    rows, after_death = mixed_model_frame(mixed_pain_frame(), "worst", visits=VISITS, adtte=mixed_adtte_frame())
    assert after_death == 3
    late = rows[rows["study_id"].isin(["P03", "P10"])]
    assert set(late["visit"]) <= {"day3", "week1", "month1"}  # day 60 death: nothing from month 3 (day 90) on


def test_degenerate_inputs_give_reasons():
    pain = _balanced()
    one = mixed_model_fit(mixed_model_frame(pain[pain["study_id"] == "R1"], "worst")[0], "worst")
    assert one.skipped_reason.startswith("fewer than 2 patients") and one.means == ()

    rfa_only, _ = mixed_model_frame(pain[pain["modality"] == "RFA"], "worst")
    single = mixed_model_fit(rfa_only, "worst", "modality")
    assert single.skipped_reason == "only one level of modality has data (RFA)"

    empty = mixed_model_fit(mixed_model_frame(pain[pain["visit"] == "baseline"], "worst")[0], "worst")
    assert empty.skipped_reason == "no patient has a baseline and a follow-up value" and empty.n_patients == 0

    flat = pain.copy()
    flat.loc[flat["visit"] == "baseline", "worst"] = 7.0  # same baseline for everyone: collinear with the intercept
    singular = mixed_model_fit(mixed_model_frame(flat, "worst")[0], "worst")
    assert singular.skipped_reason.startswith("singular design")

    no_week1 = mixed_model_fit(mixed_model_frame(pain, "worst", visits=("day3", "week1", "month1", "month3"))[0], "worst")
    assert no_week1.visits == ("day3", "week1", "month1") and "Month 3: no data, left out of the model." in no_week1.notes


def test_an_empty_visit_by_level_cell_is_not_estimated():
    pain = _balanced()
    pain = pain[~((pain["modality"] == "cryo") & (pain["visit"] == "month1"))]
    model = mixed_model_fit(mixed_model_frame(pain, "worst")[0], "worst", "modality", visits=("day3", "week1", "month1"))
    assert model.skipped_reason is None and model.converged
    cell = next(m for m in model.means if m.visit == "month1" and m.level == "cryo")
    assert cell.estimate is None and cell.n_observations == 0
    assert next(d for d in model.differences if d.visit == "month1").estimate is None
    assert "Month 1: no data for modality = cryo, not estimated there." in model.notes
    assert "visitmonth1:modalitycryo" not in {fe.term for fe in model.fixed_effects}
    assert all(math.isfinite(m.estimate) for m in model.means if m.level == "RFA")


def test_reference_visit_is_the_first_with_every_level():
    pain = _balanced()
    pain = pain[~((pain["modality"] == "cryo") & (pain["visit"] == "day3"))]
    model = mixed_model_fit(mixed_model_frame(pain, "worst")[0], "worst", "modality", visits=("day3", "week1", "month1"))
    assert model.reference_visit == "week1" and model.skipped_reason is None
    assert model.means[0].visit == "day3"  # still reported in schedule order


def test_missing_columns_raise():
    with pytest.raises(ValueError, match="worst"):
        mixed_model_frame(pd.DataFrame({"study_id": [], "visit": []}), "worst")


def test_a_categorical_visit_column_gives_the_same_rows_and_a_missing_visit_is_no_visit():
    """Issue 17 (report CPU): the analysis sets carry ``visit`` as a categorical, coded by its categories rather than
    by hashing text. The rows equal those of the plain-text column, and a record whose visit is missing is left out as
    there — its code of −1 never reads as the last category (here month 1)."""
    pain = _balanced()
    stray = pd.DataFrame([("R1", None, 1, "RFA")], columns=pain.columns)
    with_stray = pd.concat([pain, stray], ignore_index=True)
    categorical = with_stray.assign(visit=pd.Categorical(with_stray["visit"], categories=["baseline", "day3", "week1", "month1"]))
    visits = ("day3", "week1", "month1")
    expected, _ = mixed_model_frame(pain, "worst", visits=visits)
    for frame in (with_stray, categorical):
        rows, _ = mixed_model_frame(frame, "worst", visits=visits)
        assert len(rows) == 24
        pd.testing.assert_frame_equal(rows.assign(visit=rows["visit"].astype(object)), expected, check_dtype=False)


def test_the_patient_codes_are_computed_once_per_report():
    """Issue 17 (report CPU): inside a report's compute stage (analytics.stats.shared) every mixed-model unit reuses
    one factorization of the pain frame's study_ids; outside it each call computes its own."""
    from analytics.stats.mixed_model import patient_codes
    from analytics.stats.shared import shared_preparations

    pain = _balanced()
    with shared_preparations():
        first = patient_codes(pain)
        mixed_models(pain, strata_variables=("modality",), visits=("day3", "week1", "month1"))
        assert patient_codes(pain) is first
    assert patient_codes(pain) is not first
    codes, study_ids = first
    assert list(study_ids[codes]) == list(pain["study_id"])


def test_each_patients_day_of_death_is_looked_up_once_per_report():
    """Issue 17 (report CPU): the day of death of each patient of the pain frame, in patient_codes' order — NaN when
    alive, censored or absent from adtte; a death of a patient without pain records is ignored — is computed once
    inside a report's compute stage and shared by the mixed-model units."""
    from analytics.stats.mixed_model import death_days
    from analytics.stats.shared import shared_preparations

    pain = pd.DataFrame({"study_id": ["P2", "P1", "P2", "P3"], "visit": ["baseline", "baseline", "day3", "baseline"]})
    adtte = pd.DataFrame({"study_id": ["P1", "P2", "P3", "P9"], "os_days": [400.0, 50.0, 90.0, 10.0], "os_event": [0, 1, 1, 1]})
    np.testing.assert_array_equal(death_days(pain, adtte), [50.0, np.nan, 90.0])  # P2, P1, P3: first appearance
    with shared_preparations():
        first = death_days(pain, adtte)
        mixed_models(_balanced(), adtte=adtte, strata_variables=("modality",), visits=("day3", "week1", "month1"))
        assert death_days(pain, adtte) is first
    assert death_days(pain, adtte) is not first
