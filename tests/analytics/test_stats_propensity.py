"""Propensity-score-weighted comparisons (issue 16, item 2): hand-computed pieces, R-recorded values on the
hand-made cohort, every degenerate input, and the seed generator's known confounded cement effect.

R values were printed by tests/analytics/r_oracle/propensity.R (R 4.2.2, survival 3.5.3) on the cohort of
tests/analytics/r_oracle/propensity_cohort.py; the live comparison of every number is in test_stats_r_oracle.py.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from analytics.stats.propensity import (
    CONTRASTS,
    IMBALANCED,
    NOT_ESTIMABLE,
    OK,
    POOLED,
    POOR_OVERLAP,
    SMD_THRESHOLD,
    TRIM_HIGH,
    TRIM_LOW,
    histology_group,
    propensity_analysis,
    propensity_weighting,
    smd,
)
from analytics.stats.weighted_outcomes import weighted_cox, weighted_rate, weighted_steps
from tests.analytics.r_oracle.propensity_cohort import cohort

VISITS = ("day3", "month1")


def test_smd_matches_austin_2009_by_hand():
    x = np.array([1.0, 2.0, 3.0, 10.0, 20.0, 30.0])
    t = np.array([1, 1, 1, 0, 0, 0])
    # means 2 and 20, SDs 1 and 10 → (2 − 20)/√((1 + 100)/2)
    assert smd(x, t)[2] == pytest.approx(-18 / math.sqrt(50.5), abs=1e-12)
    b = np.array([1.0, 1.0, 0.0, 1.0, 0.0, 0.0])  # 2/3 vs 1/3: (1/3)/√((2/9 + 2/9)/2)
    assert smd(b, t, binary=True)[2] == pytest.approx((1 / 3) / math.sqrt(2 / 9), abs=1e-12)
    # weights 2,1,1 on the treated: weighted mean (2 + 2 + 3)/4 = 1.75
    w = np.array([2.0, 1.0, 1.0, 1.0, 1.0, 1.0])
    assert smd(x, t, w)[0] == pytest.approx(1.75)


def test_weighted_rate_and_robust_se_by_hand():
    rate = weighted_rate(np.array([1.0, 0.0, 1.0]), np.array([2.0, 1.0, 1.0]))
    # p = 3/4; se = √(4·(1/4)² + 1·(3/4)² + 1·(1/4)²)/4 = √(0.25 + 0.5625 + 0.0625)/4
    assert rate.rate == pytest.approx(0.75)
    assert rate.se == pytest.approx(math.sqrt(0.875) / 4)
    assert rate.ci_high == pytest.approx(min(1.0, 0.75 + 1.959963984540054 * math.sqrt(0.875) / 4))
    none = weighted_rate(np.zeros(4), np.ones(4))
    assert (none.rate, none.se, none.ci_low, none.ci_high) == (0.0, 0.0, None, None)


def test_weighted_km_and_aalen_johansen_by_hand():
    time = np.array([1.0, 2.0, 2.0, 3.0, 4.0])
    status = np.array([1, 2, 0, 1, 0])  # SRE, death, censored, SRE, censored
    w = np.array([2.0, 1.0, 1.0, 1.0, 1.0])
    times, surv, count, at_risk = weighted_steps(time, status, w)
    # n = 6, 4, 2: S = (1 − 2/6)(1 − 1/4)(1 − 1/2)
    assert list(times) == [1.0, 2.0, 3.0] and list(count) == [5, 4, 2] and list(at_risk) == [6.0, 4.0, 2.0]
    assert surv == pytest.approx([4 / 6, 4 / 6 * 3 / 4, 4 / 6 * 3 / 4 / 2])
    times, cif, _, _ = weighted_steps(time, status, w, cause=1)
    # F(1) = 2/6; F(3) = 2/6 + S(3−)·1/2 = 1/3 + (2/3·3/4)/2
    assert list(times) == [1.0, 3.0] and cif == pytest.approx([1 / 3, 1 / 3 + 0.25])


def test_cement_on_the_hand_made_cohort_matches_r():
    covariates, adtte, adresp = cohort()
    result = propensity_analysis(covariates, adtte, adresp, "cement", visits=VISITS)
    assert result.status == OK and result.reason is None
    # complete cases: 1 missing baseline pain and 3 missing OMED; sex X (4 patients) pooled
    assert result.excluded_missing == {"worst_pain_baseline": 1, "omed_baseline": 3}
    assert result.n_complete == 236 and result.pooled_levels == {"sex": ["X"]}
    # R: coxph(Surv(sre_days, sre_event == 1) ~ treated, weights = w, robust = TRUE); same for OS
    assert result.cox_sre.log_hr == pytest.approx(-0.77505877962706, abs=1e-6)
    assert result.cox_sre.se == pytest.approx(0.252472373870793, abs=1e-6)
    assert result.cox_os.log_hr == pytest.approx(0.375755326664047, abs=1e-6)
    assert result.cox_os.se == pytest.approx(0.243952575949803, abs=1e-6)
    assert result.cox_sre.ci_low == pytest.approx(math.exp(-0.77505877962706 - 1.959963984540054 * 0.252472373870793))
    # balance: confounded before (SINS, ECOG, region), balanced after
    before = {row.term: row.smd_before for row in result.balance}
    assert before["sins_spine"] > 0.5 and before["ecog"] < -0.4
    assert result.max_smd_after < SMD_THRESHOLD and not any(row.flagged_after for row in result.balance)
    # stabilised weights: mean ≈ 1 per arm
    assert result.weights["treated_mean"] == pytest.approx(1.0, abs=0.15)
    assert result.weights["control_mean"] == pytest.approx(1.0, abs=0.15)
    assert [r.visit for r in result.response] == list(VISITS)
    json.dumps(result.to_dict())  # JSON-ready


def test_weights_are_stabilised_and_trimmed_as_stated():
    covariates, _, _ = cohort()
    state = propensity_weighting(covariates, "cement")
    analysed, complete = state.analysed, state.complete
    assert analysed["ps"].between(TRIM_LOW, TRIM_HIGH).all()
    assert state.fields["n_trimmed"] == int((~complete["ps"].between(TRIM_LOW, TRIM_HIGH)).sum())
    share = analysed["treated"].mean()
    treated = analysed["treated"] == 1
    assert np.allclose(analysed.loc[treated, "w"], share / analysed.loc[treated, "ps"])
    assert np.allclose(analysed.loc[~treated, "w"], (1 - share) / (1 - analysed.loc[~treated, "ps"]))


def test_every_contrast_runs_and_is_json_ready():
    covariates, adtte, adresp = cohort()
    for name in CONTRASTS:
        result = propensity_analysis(covariates, adtte, adresp, name, visits=VISITS)
        assert result.status in (OK, IMBALANCED, POOR_OVERLAP, NOT_ESTIMABLE)
        assert name == "radiation_sequence" or "radiation_sequence" in result.covariates
        assert CONTRASTS[name].variable not in result.covariates
        json.dumps(result.to_dict())


# --- degenerate inputs: a reason, never an exception ------------------------------------------------


def test_one_arm_empty_gives_a_reason():
    covariates, adtte, adresp = cohort()
    covariates["augmentation"] = "none"
    result = propensity_analysis(covariates, adtte, adresp, "cement")
    assert result.status == NOT_ESTIMABLE and "0 patient(s) in the Cement arm" in result.reason
    assert result.cox_sre is None and result.response == ()


def test_contrast_variable_absent_gives_a_reason():
    covariates, adtte, adresp = cohort()
    result = propensity_analysis(covariates.drop(columns="intent"), adtte, adresp, "intent")
    assert result.status == NOT_ESTIMABLE and result.reason == "intent is not recorded"


def test_perfect_separation_gives_a_reason():
    covariates, adtte, adresp = cohort()
    covariates["age"] = np.where(covariates["augmentation"] == "cement", 70.0, 50.0)  # age decides the treatment
    result = propensity_analysis(covariates, adtte, adresp, "cement")
    assert result.status == NOT_ESTIMABLE and "separation" in result.reason


def test_poor_overlap_gives_no_estimate():
    covariates, adtte, adresp = cohort()
    # Nearly every spine lesion gets cement, nearly nothing else does: most propensity scores leave [0.05, 0.95].
    spine = covariates["region"] == "spine"
    covariates["augmentation"] = np.where(spine, "cement", "none")
    covariates.loc[covariates.index[spine][:6], "augmentation"] = "none"
    covariates.loc[covariates.index[~spine][:6], "augmentation"] = "cement"
    result = propensity_analysis(covariates, adtte, adresp, "cement")
    assert result.status in (POOR_OVERLAP, NOT_ESTIMABLE)
    assert "overlap" in result.reason or "separation" in result.reason
    assert result.cox_sre is None


def test_balance_not_reached_names_the_covariates_and_prints_no_estimate(monkeypatch):
    covariates, adtte, adresp = cohort()
    monkeypatch.setattr("analytics.stats.propensity.SMD_THRESHOLD", 0.001)
    result = propensity_analysis(covariates, adtte, adresp, "cement")
    assert result.status == IMBALANCED and "balance not reached" in result.reason
    assert result.balance and result.cox_sre is None and result.cox_os is None and result.response == ()


def test_no_events_and_no_responders_give_reasons():
    covariates, adtte, adresp = cohort()
    adtte = adtte.assign(sre_event=0, os_event=0)
    adresp = adresp.assign(response="PD")
    result = propensity_analysis(covariates, adtte, adresp, "cement", visits=VISITS)
    assert result.status == OK
    assert "too few SREs (0" in result.cox_sre.skipped_reason and result.cox_sre.hr is None
    assert "too few deaths" in result.cox_os.skipped_reason
    assert all(r.difference is None and "no responders" in r.skipped_reason for r in result.response)
    assert all(r.treated.rate == 0.0 for r in result.response)


def test_no_events_in_one_arm_is_separation_not_a_number():
    frame = pd.DataFrame({"time": np.arange(1.0, 21.0), "event": [1] * 10 + [0] * 10, "treated": [0] * 10 + [1] * 10, "w": 1.0})
    hr = weighted_cox(frame, "sre", labels=("Cement", "No augmentation"))
    assert hr.hr is None and "no SREs in the Cement arm" in hr.skipped_reason


def test_sparse_levels_are_pooled_and_a_single_level_covariate_dropped():
    covariates, adtte, adresp = cohort()
    covariates["histology_group"] = np.where(covariates.index < 3, "sarcoma", "breast")
    result = propensity_analysis(covariates, adtte, adresp, "cement")
    # sarcoma (3 patients) pooled into "other (pooled)", still sparse → joins breast → one level → dropped
    assert result.pooled_levels["histology_group"] == ["sarcoma"] and "histology_group" in result.dropped
    assert POOLED == "other (pooled)"


def test_histology_groups():
    groups = histology_group(pd.Series(["breast", "thyroid", None, "myeloma", "sarcoma"]))
    assert groups.tolist() == ["breast", "other", None, "myeloma", "other"]


# --- the generator's known, confounded effect (trials/seeding/profile.py) -----------------------------


def test_weighting_recovers_the_generators_cement_effect_that_the_unadjusted_estimate_misses(monkeypatch):
    """3000 simulated patients (no database); SRE made common (12-month 50% at the reference) for power.

    Cement goes preferentially to unstable spines (higher SINS), whose SRE hazard is higher, so the unadjusted
    hazard ratio is biased towards 1; the weighted one must cover the generator's CEMENT_SRE_HR."""
    from tests.analytics.propensity_simulation import simulate
    from trials.seeding import profile as P

    monkeypatch.setattr(P, "SRE_12M_REFERENCE", 0.5)
    frame = simulate(3000, seed=16)
    frame["histology_group"] = histology_group(frame["histology"])
    frame["sins_spine"] = frame["sins_total"].where(frame["region"] == "spine", 0.0)
    result = propensity_analysis(frame, frame, pd.DataFrame(columns=["study_id", "visit", "response"]), "cement")
    assert result.status == OK
    before = {row.term: row.smd_before for row in result.balance}
    assert before["sins_spine"] > SMD_THRESHOLD  # the confounder is imbalanced before weighting
    assert all(abs(row.smd_after) < SMD_THRESHOLD for row in result.balance)
    truth = P.CEMENT_SRE_HR
    adjusted, unadjusted = result.cox_sre, result.unadjusted_cox_sre
    assert adjusted.ci_low <= truth <= adjusted.ci_high
    assert unadjusted.ci_low > truth  # biased: its interval misses the true hazard ratio
    assert abs(math.log(unadjusted.hr / truth)) > 2 * abs(math.log(adjusted.hr / truth))


def test_contrasts_parameter_defaults_to_all_and_rejects_unknown_names():
    from analytics.parameters import parameters_parse
    from trials.errors import DomainValidationError

    assert parameters_parse({}).contrasts == tuple(CONTRASTS)
    assert parameters_parse({"contrasts": "cement,intent"}).contrasts == ("cement", "intent")
    assert parameters_parse({"contrasts": []}).contrasts == ()
    with pytest.raises(DomainValidationError) as error:
        parameters_parse({"contrasts": ["implant"]})
    assert "contrasts" in str(error.value) and "implant" in str(error.value)
