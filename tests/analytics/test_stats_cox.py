"""Cox proportional hazards against R ``coxph`` (Efron ties) on the R-oracle
cohort, plus every degenerate case.

R code (tests/analytics/r_oracle/oracle.R): factors relevelled to the most
frequent level (modality RFA 17/40, augmentation none 22, radiation_sequence
after 24, region spine 15), then
coxph(Surv(os_days, os_event) ~ modality + augmentation + radiation_sequence + region, ties = "efron")
coxph(Surv(sre_days, sre_event == 1) ~ ...), summary() printed with %.15g.
"""

from __future__ import annotations

import json

import pandas as pd
import pytest

from analytics.stats import cox_fit, cox_fits
from analytics.stats.cox import reference_level
from tests.analytics.r_oracle.cohort import adtte_frame
from tests.analytics.r_oracle.degenerate import aliased_frame, separation_frame

# term: (HR, lower .95, upper .95, p)
R_OS = {
    "modality=MWA": (0.486756785736524, 0.143112052104701, 1.65557103665324, 0.249002188987077),
    "modality=cryo": (0.347183557079572, 0.090703591262429, 1.32890462911972, 0.122407078924045),
    "augmentation=cement": (0.827678887944482, 0.267634639683122, 2.55965499219426, 0.74266040208685),
    "radiation_sequence=before": (1.48346169521407, 0.497636145058838, 4.42222419536507, 0.479147615436366),
    "region=long_bone": (0.980995336486844, 0.295616561114689, 3.25540574107273, 0.974988762463421),
    "region=pelvis": (1.86426456491693, 0.504452629513131, 6.88961096576948, 0.350335476253429),
}
R_SRE = {
    "modality=MWA": (0.532218228781515, 0.117476612087829, 2.41117136435262, 0.413241384566099),
    "modality=cryo": (0.670739837191076, 0.144154434930095, 3.12090245030116, 0.610673355295487),
    "augmentation=cement": (0.960236493492985, 0.211339870370099, 4.36289717515678, 0.958100298999297),
    "radiation_sequence=before": (1.94397284714146, 0.539029357379293, 7.0108063293557, 0.309773561463596),
    "region=long_bone": (1.51690366714769, 0.409583278651711, 5.61789715386005, 0.532795164920287),
    "region=pelvis": (1.15221724337309, 0.231412080787554, 5.73697177523361, 0.862653134296338),
}


@pytest.mark.parametrize(("endpoint", "expected", "events"), [("os", R_OS, 19), ("sre", R_SRE, 15)])
def test_matches_coxph(endpoint, expected, events):
    result = cox_fit(adtte_frame(), endpoint=endpoint)
    assert result.skipped_reason is None and (result.n, result.events) == (40, events)
    assert [t.term for t in result.terms] == list(expected)
    for term in result.terms:
        hr, low, high, p = expected[term.term]
        assert (term.hr, term.ci_low, term.ci_high, term.p_value) == pytest.approx((hr, low, high, p), rel=1e-6)
    assert {t.variable: t.reference for t in result.terms} == {
        "modality": "RFA",
        "augmentation": "none",
        "radiation_sequence": "after",
        "region": "spine",
    }
    assert result.events_per_parameter == pytest.approx(events / 6)
    assert any("events per parameter" in w for w in result.warnings)  # < 10 EPV is flagged


def test_reference_level_rule():
    assert reference_level(pd.Series(["b", "a", "b", "c"])) == "b"  # most frequent
    assert reference_level(pd.Series(["b", "a", "b", "a", "c"])) == "a"  # tie → alphabetical


def test_single_level_and_absent_covariates_are_dropped():
    frame = adtte_frame().assign(augmentation="none").drop(columns=["region"])
    result = cox_fit(frame, endpoint="os")
    assert {(d.variable, d.reason) for d in result.dropped} == {("augmentation", "single level"), ("region", "column absent")}
    assert {t.variable for t in result.terms} == {"modality", "radiation_sequence"}
    assert result.skipped_reason is None


def test_no_usable_covariate_is_skipped():
    frame = adtte_frame().assign(modality="RFA", augmentation="none", radiation_sequence="after", region="spine")
    result = cox_fit(frame)
    assert result.terms == () and result.skipped_reason == "no covariate with at least two levels"
    assert len(result.dropped) == 4


def test_too_few_events_is_skipped():
    frame = adtte_frame().head(8)  # 3 deaths for 6 parameters
    result = cox_fit(frame)
    assert result.events == 3 and result.terms == ()
    assert result.skipped_reason.startswith("too few events")


def test_separation_warns_without_raising():
    frame = adtte_frame()
    frame.loc[frame["modality"] == "cryo", "os_event"] = 0  # no deaths after cryoablation
    result = cox_fit(frame, covariates=["modality"])
    cryo = next(t for t in result.terms if t.level == "cryo")
    assert cryo.hr < 1e-3  # diverges towards 0; not a valid estimate
    assert any("separation" in w or "variance" in w for w in result.warnings)


def test_missing_covariate_rows_are_complete_case():
    frame = adtte_frame()
    frame.loc[[0, 1], "region"] = None
    assert cox_fit(frame).n == 38


def test_results_are_json_serialisable():
    payload = [r.to_dict() for r in cox_fits(adtte_frame())]
    text = json.dumps(payload, allow_nan=False)
    assert '"ties": "efron"' in text and len(payload) == 2


def test_unknown_endpoint_raises():
    with pytest.raises(ValueError, match="endpoint"):
        cox_fit(adtte_frame(), endpoint="pfs")


# R coxph on tests/analytics/r_oracle/degenerate.py::aliased_frame (degenerate.R; R 4.2.2, survival 3.5.3),
# factors relevelled to implant / peripheral: region=spine is NA (aliased).
R_ALIASED = {
    "augmentation=cement": (10.3481428236744, 3.37117621008017, 31.7645988302159, 4.43237519696229e-05),
    "augmentation=none": (4.34104040942887, 1.5753558107262, 11.9621432237632, 0.00452905840680374),
    "region=pelvis": (0.478244104630038, 0.199557242578142, 1.14612439347485, 0.0981027034430834),
}


def test_aliased_column_is_dropped_like_r_and_named():
    result = cox_fit(aliased_frame(), covariates=("augmentation", "region"))
    assert result.skipped_reason is None and (result.n, result.events) == (60, 40)
    by_term = {t.term: t for t in result.terms}
    assert {t.reference for t in result.terms} == {"implant", "peripheral"}
    for term, (hr, low, high, p) in R_ALIASED.items():
        got = by_term[term]
        assert got.estimable and got.flags == ()
        assert (got.hr, got.ci_low, got.ci_high, got.p_value) == pytest.approx((hr, low, high, p), rel=1e-6)
    spine = by_term["region=spine"]
    assert (spine.hr, spine.ci_low, spine.ci_high, spine.p_value, spine.estimable) == (None, None, None, None, False)
    assert spine.flags == ("aliased",)
    (dropped,) = result.dropped
    assert dropped.variable == "region=spine"
    assert "augmentation=cement, augmentation=none, region=pelvis" in dropped.reason
    assert [f.code for f in result.flags] == ["aliased"]
    assert result.events_per_parameter == pytest.approx(40 / 3)  # 3 estimable parameters
    assert "http" not in json.dumps(result.to_dict())


def test_separation_is_flagged_on_the_term_with_events_per_parameter():
    # Issue 12: OS deaths RFA 5/8, cryo 3/6, MWA 0/5. R: MWA HR 1.395e-09 (0 – Inf), "coefficient may be infinite".
    result = cox_fit(separation_frame(), covariates=("modality",))
    mwa = next(t for t in result.terms if t.level == "MWA")
    cryo = next(t for t in result.terms if t.level == "cryo")
    assert not mwa.estimable and mwa.flags == ("separation",)
    assert cryo.estimable and cryo.hr == pytest.approx(1.3726080075740015, rel=1e-6)  # R: 1.373 (0.303–6.218)
    codes = {f.code: f for f in result.flags}
    assert {"separation", "few_events_per_parameter"} <= set(codes)
    assert codes["separation"].term == "modality=MWA" and "no deaths among modality=MWA (n=5)" in codes["separation"].message
    assert codes["few_events_per_parameter"].message.startswith("4.0 events per parameter")
    text = json.dumps(result.to_dict())
    assert "http" not in text and "ConvergenceWarning" not in text


def test_fit_failure_reason_is_human():
    frame = adtte_frame()
    frame["os_days"] = float("inf")  # the library cannot fit infinite times
    result = cox_fit(frame, covariates=("modality",))
    assert result.terms == () and result.skipped_reason.startswith("not computable")
    assert "http" not in result.skipped_reason and "Error" not in result.skipped_reason
