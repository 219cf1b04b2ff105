"""Local tumour control (issue 10 part B; docs/domain.md §12): technical success with its exact CI, the cumulative
incidence of local tumour progression (LTP) with death competing — against hand-computed values, scipy and R — the
derivation from imaging records, and degenerate inputs reported as not estimable."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats as scipy_stats

from analytics.compute import local_tumour_control_job
from analytics.derive import AnalysisSets
from analytics.local_control import build_adltp, build_lesion_control
from analytics.stats.complications import clopper_pearson
from analytics.stats.local_control import local_tumour_control, ltp_cumulative_incidence, technical_success_rate
from tests.analytics.r_oracle import runner
from tests.analytics.test_derive import DAY0, day, snapshot

# Eight local-control patients (days from the index procedure; 1 = LTP, 2 = death without LTP, 0 = censored):
HAND = [("A", 90, 1), ("B", 90, 1), ("C", 90, 2), ("D", 90, 0), ("E", 180, 1), ("F", 200, 2), ("G", 300, 0), ("H", 365, 1)]


def adltp(rows=HAND, intent="local_control", guidance="ct") -> pd.DataFrame:
    return pd.DataFrame(
        {
            "study_id": [r[0] for r in rows],
            "intent": intent,
            "guidance": guidance,
            "modality": "cryo",
            "imaged": True,
            "ltp_days": [float(r[1]) for r in rows],
            "ltp_event": [r[2] for r in rows],
            "last_imaging_days": [float(r[1]) for r in rows],
        }
    )


def test_ltp_cumulative_incidence_matches_the_hand_computed_aalen_johansen_values_with_ties():
    """Exact ties: every event at a day shares its risk set, a patient censored that day is still at risk.

    day  n  LTP  death  S(t−)    F(t) = F(t−) + S(t−)·d1/n          S(t) = S(t−)·(1 − d/n)
    90   8  2    1      1        0 + 1·2/8           = 0.25          1·(1 − 3/8)   = 0.625   (D censored at 90: at risk)
    180  4  1    0      0.625    0.25 + 0.625·1/4    = 0.40625       0.625·3/4     = 0.46875
    200  3  0    1      0.46875  0.40625 (no LTP)                    0.46875·2/3   = 0.3125
    300     G censored
    365  1  1    0      0.3125   0.40625 + 0.3125·1/1 = 0.71875      0
    A naive 1 − KM (deaths censored) would give 1 at day 365: the competing deaths are what keep it at 0.71875.

    Variance at day 90 (Gray's cuminc delta method, analytics.stats.competing_risks):
    LTP: w = S⁻²·τ·d1/n² = 1·(1 − 1/7)·2/64 = 3/112, b = 1/S = 1.6, a = 1 + b·F = 1.4
         → v1 = a²w = 0.0525, v2 = abw = 0.06, v3 = b²w = 0.0685714…
    death: w = 1·1·1/64, a = F/S = 0.4, b = 1.6 → v1 += 0.0025, v2 += 0.01, v3 += 0.04
    Var = v1 + F²·v3 − 2F·v2 = 0.055 + 0.0625·0.1085714… − 0.5·0.07 = 0.0267857… = (0.25·0.75/8)·8/7.
    """
    result = ltp_cumulative_incidence(adltp(), stratum="all", population="test")
    curve = result.curve
    assert [p.day for p in curve.points] == [90.0, 180.0, 365.0]
    assert [p.estimate for p in curve.points] == pytest.approx([0.25, 0.40625, 0.71875], abs=1e-12)
    assert [p.at_risk for p in curve.points] == [8, 4, 1]
    landmarks = {p.day: p for p in curve.landmarks}
    assert landmarks[90].estimate == pytest.approx(0.25) and landmarks[90].at_risk == 8
    assert landmarks[180].estimate == pytest.approx(0.40625) and landmarks[180].at_risk == 4
    assert landmarks[365].estimate == pytest.approx(0.71875) and landmarks[365].at_risk == 1
    assert (curve.events, curve.competing_events, curve.n) == (4, 2, 8)
    variance = 0.055 + 0.0625 * (0.0685714285714286 + 0.04) - 0.5 * 0.07
    assert variance == pytest.approx(0.25 * 0.75 / 8 * 8 / 7)
    se = np.sqrt(variance)
    k = 1.959963984540054 * se / (0.25 * np.log(0.25))
    assert (landmarks[90].ci_low, landmarks[90].ci_high) == pytest.approx((0.25 ** np.exp(-k), 0.25 ** np.exp(k)))
    assert curve.skipped_reason is None and result.imaged == 8


def test_clopper_pearson_of_technical_success_matches_scipy_and_published_values():
    # 45/52 (McMenomy et al., JVIR 2013;24:207 report 87%, 95% CI 75%–93% for this local control count; the
    # exact interval is 0.742–0.944) and the exact binomial limits of scipy's binomtest.
    for k, n in ((45, 52), (19, 20), (0, 7), (7, 7), (1, 1)):
        expected = scipy_stats.binomtest(k, n).proportion_ci(confidence_level=0.95, method="exact")
        assert clopper_pearson(k, n) == pytest.approx((expected.low, expected.high), abs=1e-12)
    assert clopper_pearson(45, 52) == pytest.approx((0.7421, 0.9442), abs=5e-4)
    assert clopper_pearson(0, 7)[0] == 0.0 and clopper_pearson(0, 7)[1] == pytest.approx(1 - 0.025 ** (1 / 7))
    lesions = pd.DataFrame(
        {
            "study_id": ["A", "B", "C", "D", "E", "F"],
            "first_finding": ["none", "none", "present", "not_evaluable", "no_first_imaging", "none"],
        }
    )
    rate = technical_success_rate(lesions)
    assert (rate.n_lesions, rate.success, rate.residual_tumour, rate.not_evaluable, rate.no_first_imaging) == (6, 3, 1, 1, 1)
    assert rate.evaluable == 4 and rate.rate == 0.75 and (rate.ci_low, rate.ci_high) == pytest.approx(clopper_pearson(3, 4))


def _imaging(rows) -> pd.DataFrame:
    columns = ["study_id", "lesion_instance", "index_lesion", "assessment_date", "imaging_modality", "first_post_procedure"]
    columns += ["viable_tumour", "local_tumour_progression", "ltp_date", "version"]
    return pd.DataFrame(
        [
            {
                "study_id": sid,
                "lesion_instance": lesion,
                "index_lesion": lesion == 1,
                "assessment_date": day(d),
                "imaging_modality": "mri",
                "first_post_procedure": first,
                "viable_tumour": viable,
                "local_tumour_progression": ltp,
                "ltp_date": day(d) if ltp else pd.NaT,
                "version": 1,
            }
            for sid, lesion, d, first, viable, ltp in rows
        ],
        columns=columns,
    )


def _snapshot_with_imaging(imaging_rows, *, intents, exits=()):
    base = snapshot({sid: {"visits": {"baseline": (8, "none", 0)}} for sid in intents}, exits=exits)
    procedures = base.procedures.assign(
        intent=[intents[s] for s in base.procedures["study_id"]], guidance=["ct", "cbct", "", "ct", "ct"][: len(intents)]
    )
    from dataclasses import replace

    return replace(base, procedures=procedures, imaging=_imaging(imaging_rows))


def test_derivation_counts_every_lesion_and_times_ltp_with_death_competing():
    intents = {"P1": "local_control", "P2": "local_control", "P3": "local_control", "P4": "local_control", "P5": "palliative"}
    rows = [
        ("P1", 1, 42, True, "none", False),  # technical success, LTP at day 200 (first of two lesions)
        ("P1", 1, 130, False, "none", False),
        ("P1", 1, 200, False, "present", True),
        ("P1", 2, 50, True, "present", False),  # a second treated lesion: residual tumour
        ("P2", 1, 35, True, "not_evaluable", False),  # not evaluable, then complete; dies on day 150
        ("P2", 1, 120, False, "none", False),
        ("P3", 1, 60, False, "none", False),  # imaging, none of it marked first post-procedure
    ]  # P4: local control, never imaged; P5: palliative, never imaged
    exits = [{"study_id": "P2", "exit_type": "death", "exit_date": day(150), "last_contact_date": day(150)}]
    snap = _snapshot_with_imaging(rows, intents=intents, exits=exits)
    from analytics.derive import analysis_patients, snapshot_coded

    coded = snapshot_coded(snap)
    patients = analysis_patients(coded)
    lesions = build_lesion_control(coded, patients)
    found = [(r.study_id, r.lesion_instance, r.first_finding, r.technical_success) for r in lesions.itertuples()]
    assert found == [
        ("P1", 1.0, "none", True),
        ("P1", 2.0, "present", False),
        ("P2", 1.0, "not_evaluable", None),
        ("P3", 1.0, "no_first_imaging", None),
        ("P4", pytest.approx(np.nan, nan_ok=True), "no_first_imaging", None),
        ("P5", pytest.approx(np.nan, nan_ok=True), "no_first_imaging", None),
    ]
    times = build_adltp(coded, patients).set_index("study_id")
    assert times.loc["P1", ["ltp_days", "ltp_event"]].tolist() == [200.0, 1]
    assert times.loc["P2", ["ltp_days", "ltp_event"]].tolist() == [150.0, 2]  # death after the last imaging competes
    assert times.loc["P3", ["ltp_days", "ltp_event"]].tolist() == [60.0, 0]  # censored at the last imaging
    assert times.loc["P4", ["ltp_days", "ltp_event", "imaged"]].tolist() == [0.0, 0, False]
    assert times.loc["P5", "intent"] == "palliative" and times.loc["P3", "guidance"] is None  # blank guidance: missing
    result = local_tumour_control(lesions, build_adltp(coded, patients))
    rates = {r.stratum: r for r in result.technical_success}
    assert rates["all"].n_lesions == 5 and rates["all"].evaluable == 2 and rates["all"].no_first_imaging == 2
    assert rates["intent=palliative"].skipped_reason.startswith("not estimable: no lesion with an evaluable")
    curves = {c.stratum: c for c in result.ltp}
    assert curves["all"].curve.events == 1 and curves["all"].curve.competing_events == 1 and curves["all"].population
    assert curves["intent=palliative"].curve.skipped_reason == "not estimable: no imaging follow-up recorded in this stratum"
    assert curves["guidance=cbct"].curve.skipped_reason.startswith("not estimable: no local tumour progression observed")
    assert set(curves) == {"all", "guidance=cbct", "guidance=ct", "modality=RFA", "intent=local_control", "intent=palliative"}
    assert DAY0 == day(0)


@pytest.mark.parametrize(
    ("rows", "reason"),
    [
        ([], "not estimable: no patients in this stratum"),
        ([("A", 120, 1)], None),  # one patient with LTP: F = 1 (no CI), no exception
        ([("A", 120, 0), ("B", 90, 2)], "not estimable: no local tumour progression observed (2 patients imaged)"),
    ],
    ids=["empty", "one-patient", "no-ltp"],
)
def test_degenerate_ltp_inputs_are_not_estimable_with_a_reason(rows, reason):
    curve = ltp_cumulative_incidence(adltp(rows)).curve
    assert curve.skipped_reason == reason
    if reason is not None:
        assert curve.points == () and all(p.estimate is None for p in curve.landmarks)
    else:
        assert curve.landmarks[-1].estimate is None and curve.points[0].estimate == 1.0  # past follow-up: none


def test_fit_job_without_local_control_patients_reports_reasons_not_exceptions():
    empty_lesions = pd.DataFrame(columns=["study_id", "intent", "guidance", "modality", "first_finding"])
    sets = AnalysisSets(
        patients=pd.DataFrame(), adtte=pd.DataFrame(), adresp=pd.DataFrame(), pain=pd.DataFrame(), aes=pd.DataFrame(),
        itt_population={}, cutoff=None, lesion_control=empty_lesions, adltp=adltp([]),
    )  # fmt: skip
    section = local_tumour_control_job(sets, None, ())["local_tumour_control"]
    assert section["technical_success"]["all"]["skipped_reason"] == "not estimable: no treated lesion in this stratum"
    assert section["ltp"]["strata"]["all"]["skipped_reason"] == "not estimable: no patients in this stratum"
    assert section["ltp"]["strata"]["all"]["at_days"]["365"] == {"estimate": None, "ci_low": None, "ci_high": None, "at_risk": 0}


def test_result_json_section_xlsx_sheets_pdf_tables_and_plot(tmp_path):
    lesions = pd.DataFrame(
        {
            "study_id": [r[0] for r in HAND],
            "intent": "local_control",
            "guidance": ["ct", "cbct", "cbct", "cbct", "ct", "ct", "cbct", "ct"],
            "modality": "cryo",
            "first_finding": ["none"] * 6 + ["present", "not_evaluable"],
        }
    )
    frame = adltp().assign(guidance=lesions["guidance"])
    sets = AnalysisSets(
        patients=pd.DataFrame(), adtte=pd.DataFrame(), adresp=pd.DataFrame(), pain=pd.DataFrame(), aes=pd.DataFrame(),
        itt_population={}, cutoff=None, lesion_control=lesions, adltp=frame,
    )  # fmt: skip
    numbers = {"local_tumour_control": local_tumour_control_job(sets, None, ())["local_tumour_control"]}
    section = numbers["local_tumour_control"]
    assert section["ltp"]["strata"]["all"]["at_days"]["180"]["estimate"] == pytest.approx(0.40625)
    assert section["ltp"]["time_grid"]["days"][0] == 0 and section["ltp"]["time_grid"]["at_risk"]["all"][0] == 8
    assert section["technical_success"]["all"]["rate"] == pytest.approx(6 / 7)
    from analytics.render.local_control_report import local_control_figures, local_control_tables
    from analytics.render.local_control_tables import ltp_frame, technical_success_frame

    sheet = ltp_frame(numbers)
    assert sheet[sheet["stratum"] == "all"]["day"].tolist() == [90, 180, 365]
    assert technical_success_frame(numbers).set_index("stratum").loc["all", "not_evaluable"] == 1
    success, ltp = local_control_tables(numbers)
    assert success.frame.iloc[0]["Technical success, % (95% CI)"].startswith("85.7% (")
    assert list(ltp.frame.columns[-3:]) == ["3 months", "6 months", "12 months"] and "population" not in ltp.note
    assert "local tumour control intent" in ltp.note
    builders = local_control_figures(numbers, sets)
    assert set(builders) == {"ltp_cumulative_incidence.png", "ltp_cumulative_incidence_by_guidance.png"}
    figure = builders["ltp_cumulative_incidence.png"]()
    figure.savefig(tmp_path / "ltp.png")
    assert local_control_tables({}) == [] and local_control_figures({}, None) == {}


def test_ltp_cumulative_incidence_matches_cmprsk_cuminc(tmp_path):
    """Live R oracle (RUN_R_ORACLE=1): the hand cohort and a larger tied one against cmprsk::cuminc, to 1e-6."""
    runner.rscript(("cmprsk",))  # opt-in guard: skips unless RUN_R_ORACLE=1
    rng = np.random.default_rng(10)
    larger = [(f"P{i}", int(rng.integers(1, 13)) * 30, int(rng.choice([0, 0, 1, 2]))) for i in range(120)]
    for rows in (HAND, larger):
        frame = adltp(rows)
        csv = tmp_path / "adltp.csv"
        frame.to_csv(csv, index=False)
        r_ltp = runner.r_values(Path(__file__).parent / "r_oracle" / "ltp.R", csv, packages=("cmprsk",))["ltp"]
        from analytics.stats.competing_risks import aalen_johansen_steps

        steps = aalen_johansen_steps(frame["ltp_days"].to_numpy(float), frame["ltp_event"].to_numpy(int), 1)
        curve = ltp_cumulative_incidence(frame).curve
        python = {f"estimate@{t:g}": c for t, c in zip(steps["time"], steps["cif"], strict=True)}
        python |= {f"var@{t:g}": v for t, v in zip(steps["time"], steps["var"], strict=True)}
        python |= {f"landmark@{p.day:g}": p.estimate for p in curve.landmarks}
        assert len(r_ltp) >= 3 * 2 + 6
        for key, value in r_ltp.items():
            if key.startswith("landmark_var"):
                continue
            assert python[key] == pytest.approx(value, abs=1e-6), key
