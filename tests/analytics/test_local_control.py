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

# Ten local-control patients (days from the index procedure; 1 = LTP, 2 = death without LTP, 0 = censored; last: why
# the patient is outside the LTP analysis population, None when in it). Eight had complete ablation at the first
# follow-up imaging; I had residual unablated tumour there (a technical failure: never LTP), alive, censored at its
# last imaging on day 300; J was never imaged and died on day 150.
HAND = [
    ("A", 90, 1, None), ("B", 90, 1, None), ("C", 90, 2, None), ("D", 90, 0, None), ("E", 180, 1, None),
    ("F", 200, 2, None), ("G", 300, 0, None), ("H", 365, 1, None),
    ("I", 300, 0, "residual_tumour"), ("J", 150, 2, "no_follow_up_imaging"),
]  # fmt: skip


def adltp(rows=HAND, intent="local_control", guidance="ct") -> pd.DataFrame:
    exclusion = [r[3] if len(r) > 3 else None for r in rows]
    return pd.DataFrame(
        {
            "study_id": [r[0] for r in rows],
            "intent": intent,
            "guidance": guidance,
            "modality": "cryo",
            "imaged": [reason != "no_follow_up_imaging" for reason in exclusion],
            "ltp_population": [reason is None for reason in exclusion],
            "ltp_exclusion": pd.Series(exclusion, dtype=object),
            "ltp_days": [float(r[1]) for r in rows],
            "ltp_event": [r[2] for r in rows],
            "last_imaging_days": [float(r[1]) for r in rows],
        }
    )


def test_ltp_cumulative_incidence_matches_the_hand_computed_aalen_johansen_values_with_ties():
    """Exact ties: every event at a day shares its risk set, a patient censored that day is still at risk. The LTP
    analysis population is A–H (complete ablation at the first follow-up imaging, Ahmed 2014): I (residual tumour)
    and J (never imaged) are excluded and counted, so the curve is that of the eight:

    day  n  LTP  death  S(t−)    F(t) = F(t−) + S(t−)·d1/n          S(t) = S(t−)·(1 − d/n)
    90   8  2    1      1        0 + 1·2/8           = 0.25          1·(1 − 3/8)   = 0.625   (D censored at 90: at risk)
    180  4  1    0      0.625    0.25 + 0.625·1/4    = 0.40625       0.625·3/4     = 0.46875
    200  3  0    1      0.46875  0.40625 (no LTP)                    0.46875·2/3   = 0.3125
    300     G censored
    365  1  1    0      0.3125   0.40625 + 0.3125·1/1 = 0.71875      0
    A naive 1 − KM (deaths censored) would give 1 at day 365: the competing deaths are what keep it at 0.71875.

    The old population (every local-control patient, I and J at risk) would have given, biased down:
    90   10 2    1      1        0 + 2/10            = 0.2           1·7/10        = 0.7
    150  6  0    1 (J)  0.7      0.2                                 0.7·5/6       = 0.583333…
    180  5  1    0      0.583333 0.2 + 0.583333·1/5  = 0.316667      0.583333·4/5  = 0.466667
    200  4  0    1      0.466667 0.316667                            0.466667·3/4  = 0.35
    300     G and I censored
    365  1  1    0      0.35     0.316667 + 0.35     = 0.666667 (2/3)

    Variance at day 90 (Gray's cuminc delta method, analytics.stats.competing_risks):
    LTP: w = S⁻²·τ·d1/n² = 1·(1 − 1/7)·2/64 = 3/112, b = 1/S = 1.6, a = 1 + b·F = 1.4
         → v1 = a²w = 0.0525, v2 = abw = 0.06, v3 = b²w = 0.0685714…
    death: w = 1·1·1/64, a = F/S = 0.4, b = 1.6 → v1 += 0.0025, v2 += 0.01, v3 += 0.04
    Var = v1 + F²·v3 − 2F·v2 = 0.055 + 0.0625·0.1085714… − 0.5·0.07 = 0.0267857… = (0.25·0.75/8)·8/7.

    Technique efficacy: 8 with complete ablation of 9 imaged (J never imaged) = 0.888…, exact CI as binom.test(8, 9).
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
    assert curve.skipped_reason is None
    assert (result.n_patients, result.imaged, result.complete_ablation) == (10, 9, 8)
    assert result.excluded == {
        "residual_tumour": 1, "first_imaging_not_evaluable": 0, "no_first_imaging_marked": 0, "no_follow_up_imaging": 1,
    }  # fmt: skip
    exact = scipy_stats.binomtest(8, 9).proportion_ci(confidence_level=0.95, method="exact")
    assert result.technique_efficacy == pytest.approx(8 / 9)
    assert (result.technique_efficacy_ci_low, result.technique_efficacy_ci_high) == pytest.approx((exact.low, exact.high))
    # the old population (the reviewer's finding), by hand above: biased down
    from analytics.stats.competing_risks import aalen_johansen_steps

    everyone = aalen_johansen_steps(np.array([float(r[1]) for r in HAND]), np.array([r[2] for r in HAND]), 1)
    assert list(everyone["time"]) == [90.0, 180.0, 365.0]
    assert list(everyone["cif"]) == pytest.approx([0.2, 0.2 + 0.7 * 5 / 6 / 5, 2 / 3], abs=1e-12)


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
    guidance = ["ct", "cbct", "", "ct", "ct", "cbct"][: len(intents)]
    procedures = base.procedures.assign(intent=[intents[s] for s in base.procedures["study_id"]], guidance=guidance)
    from dataclasses import replace

    return replace(base, procedures=procedures, imaging=_imaging(imaging_rows))


def test_derivation_counts_every_lesion_and_times_ltp_with_death_competing():
    intents = {"P1": "local_control", "P2": "local_control", "P3": "local_control", "P4": "local_control"}
    intents |= {"P5": "palliative", "P6": "local_control"}
    rows = [
        ("P1", 1, 42, True, "none", False),  # technical success, LTP at day 200 (first of two lesions)
        ("P1", 1, 130, False, "none", False),
        ("P1", 1, 200, False, "present", True),
        ("P1", 2, 50, True, "present", False),  # a second treated lesion: residual tumour
        ("P2", 1, 35, True, "not_evaluable", False),  # not evaluable, then complete; dies on day 150
        ("P2", 1, 120, False, "none", False),
        ("P3", 1, 60, False, "none", False),  # imaging, none of it marked first post-procedure
        ("P6", 1, 45, True, "present", False),  # residual unablated tumour (technical failure), still there later
        ("P6", 1, 140, False, "present", False),
    ]  # P4: local control, never imaged, dies on day 100; P5: palliative, never imaged
    exits = [
        {"study_id": "P2", "exit_type": "death", "exit_date": day(150), "last_contact_date": day(150)},
        {"study_id": "P4", "exit_type": "death", "exit_date": day(100), "last_contact_date": day(100)},
    ]
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
        ("P6", 1.0, "present", False),
    ]
    times = build_adltp(coded, patients).set_index("study_id")
    assert times.loc["P1", ["ltp_days", "ltp_event"]].tolist() == [200.0, 1]
    assert times.loc["P2", ["ltp_days", "ltp_event"]].tolist() == [150.0, 2]  # death after the last imaging competes
    assert times.loc["P3", ["ltp_days", "ltp_event"]].tolist() == [60.0, 0]  # censored at the last imaging
    assert times.loc["P4", ["ltp_days", "ltp_event", "imaged"]].tolist() == [100.0, 2, False]
    assert times.loc["P6", ["ltp_days", "ltp_event"]].tolist() == [140.0, 0]
    # the LTP analysis population: a lesion with complete ablation at its first follow-up imaging (P1, whose other
    # lesion had residual tumour); the others excluded with the first reason that applies
    assert times["ltp_exclusion"].to_dict() == {
        "P1": None, "P2": "first_imaging_not_evaluable", "P3": "no_first_imaging_marked", "P4": "no_follow_up_imaging",
        "P5": "no_follow_up_imaging", "P6": "residual_tumour",
    }  # fmt: skip
    assert times["ltp_population"].tolist() == [True, False, False, False, False, False]
    # one str object per value, not one per patient or lesion (issue 17, worker memory): P4 and P5 share theirs
    assert times.loc["P4", "ltp_exclusion"] is times.loc["P5", "ltp_exclusion"]
    no_first = [v for v in lesions["first_finding"] if v == "no_first_imaging"]
    assert len(no_first) == 3 and len({id(v) for v in no_first}) == 1
    assert times.loc["P5", "intent"] == "palliative" and times.loc["P3", "guidance"] is None  # blank guidance: missing
    result = local_tumour_control(lesions, build_adltp(coded, patients))
    rates = {r.stratum: r for r in result.technical_success}
    assert rates["all"].n_lesions == 6 and rates["all"].evaluable == 3 and rates["all"].no_first_imaging == 2
    assert rates["intent=palliative"].skipped_reason.startswith("not estimable: no lesion with an evaluable")
    curves = {c.stratum: c for c in result.ltp}
    everyone = curves["all"]
    # P2's and P4's deaths are no longer competing events: neither had complete ablation documented at first imaging
    assert (everyone.curve.n, everyone.curve.events, everyone.curve.competing_events) == (1, 1, 0)
    assert (everyone.n_patients, everyone.imaged, everyone.complete_ablation) == (5, 4, 1)
    assert everyone.excluded == dict.fromkeys(("residual_tumour", "first_imaging_not_evaluable", "no_first_imaging_marked",
                                               "no_follow_up_imaging"), 1)  # fmt: skip
    assert everyone.technique_efficacy == 0.25 and everyone.population
    assert curves["intent=palliative"].curve.skipped_reason == "not estimable: no imaging follow-up recorded in this stratum"
    assert curves["intent=palliative"].curve.competing_events == 0 and curves["intent=palliative"].technique_efficacy is None
    assert curves["guidance=cbct"].curve.skipped_reason == (
        "not estimable: no patient with complete ablation at the first follow-up imaging (2 imaged)"
    )
    assert curves["guidance=cbct"].excluded["residual_tumour"] == 1 and curves["guidance=cbct"].curve.n == 0
    assert set(curves) == {"all", "guidance=cbct", "guidance=ct", "modality=RFA", "intent=local_control", "intent=palliative"}
    assert DAY0 == day(0)


@pytest.mark.parametrize(
    ("rows", "reason"),
    [
        ([], "not estimable: no patients in this stratum"),
        ([("A", 120, 1)], None),  # one patient with LTP: F = 1 (no CI), no exception
        (
            [("A", 120, 0), ("B", 90, 2)],
            "not estimable: no local tumour progression observed (2 patients with complete ablation)",
        ),
        (
            [("A", 120, 0, "residual_tumour")],
            "not estimable: no patient with complete ablation at the first follow-up imaging (1 imaged)",
        ),
        ([("A", 30, 2, "no_follow_up_imaging")], "not estimable: no imaging follow-up recorded in this stratum"),
    ],
    ids=["empty", "one-patient", "no-ltp", "residual-only", "never-imaged"],
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
            "guidance": ["ct", "cbct", "cbct", "cbct", "ct", "ct", "cbct", "ct", "ct", "cbct"],
            "modality": "cryo",
            "first_finding": ["none"] * 8 + ["present", "no_first_imaging"],
        }
    )
    # modality=RFA: C (death), D and G (censored), no LTP → not estimable although 3 patients are analysed
    modality = ["RFA" if sid in {"C", "D", "G"} else "cryo" for sid in lesions["study_id"]]
    frame = adltp().assign(guidance=lesions["guidance"], modality=modality)
    sets = AnalysisSets(
        patients=pd.DataFrame(), adtte=pd.DataFrame(), adresp=pd.DataFrame(), pain=pd.DataFrame(), aes=pd.DataFrame(),
        itt_population={}, cutoff=None, lesion_control=lesions, adltp=frame,
    )  # fmt: skip
    numbers = {"local_tumour_control": local_tumour_control_job(sets, None, ())["local_tumour_control"]}
    section = numbers["local_tumour_control"]
    everyone = section["ltp"]["strata"]["all"]
    assert everyone["at_days"]["180"]["estimate"] == pytest.approx(0.40625)
    assert (everyone["n_patients"], everyone["imaged"], everyone["n"], everyone["complete_ablation"]) == (10, 9, 8, 8)
    assert everyone["excluded"]["residual_tumour"] == 1 and everyone["excluded"]["no_follow_up_imaging"] == 1
    grid = section["ltp"]["time_grid"]
    assert grid["days"] == [0, 60, 120, 180, 240, 300, 360, 420] and grid["at_risk"]["all"][0] == 8  # I, J excluded
    assert grid["at_risk"]["modality=RFA"] == [3, 3, 1, 1, 1, 1, 0, 0]
    rfa = section["ltp"]["strata"]["modality=RFA"]
    assert rfa["skipped_reason"].startswith("not estimable: no local tumour progression observed (3 patients")
    assert grid["estimate"]["modality=RFA"] == [None] * 8  # not estimable: null at every tick, not 0.0
    # cryo A, B, E, F, H: 2 LTP of 5 at day 90 → 0.4 (S 0.6); E at 180: 0.4 + 0.6·1/3 = 0.6 (S 0.4); F dies at 200
    # (S 0.2); H at 365: 0.8, after the tick 360; past 365 (the last follow-up) null
    assert grid["estimate"]["modality=cryo"] == pytest.approx([0.0, 0.0, 0.4, 0.6, 0.6, 0.6, 0.6, None])
    assert section["technical_success"]["all"]["rate"] == pytest.approx(8 / 9)
    from analytics.render.local_control_report import local_control_figures, local_control_tables
    from analytics.render.local_control_tables import ltp_frame, technical_success_frame

    sheet = ltp_frame(numbers)
    rows = sheet[sheet["stratum"] == "all"]
    assert rows["day"].tolist() == [90, 180, 365]
    assert rows[["patients", "imaged", "analysed", "excluded_residual_tumour", "excluded_no_follow_up_imaging"]].iloc[
        0
    ].tolist() == [10, 9, 8, 1, 1]
    assert rows["technique_efficacy"].iloc[0] == pytest.approx(8 / 9)
    assert technical_success_frame(numbers).set_index("stratum").loc["all", "no_first_imaging"] == 1
    success, ltp = local_control_tables(numbers)
    assert success.frame.iloc[0]["Technical success, % (95% CI)"].startswith("88.9% (")
    assert ltp.frame.iloc[0]["Complete ablation, n, % (95% CI)"].startswith("8, 88.9% (")
    assert list(ltp.frame.columns[-3:]) == ["3 months", "6 months", "12 months"] and "population" not in ltp.note
    assert "local tumour control intent" in ltp.note and "Ahmed" in ltp.note
    assert (
        "Not in the LTP analysis (local tumour control intent): 1 residual unablated tumour at the first follow-up "
        "imaging; 1 no follow-up imaging." in ltp.note
    )
    builders = local_control_figures(numbers, sets)
    assert set(builders) == {"ltp_cumulative_incidence.png", "ltp_cumulative_incidence_by_guidance.png"}
    figure = builders["ltp_cumulative_incidence.png"]()
    figure.savefig(tmp_path / "ltp.png")
    assert local_control_tables({}) == [] and local_control_figures({}, None) == {}


def test_ltp_cumulative_incidence_matches_cmprsk_cuminc(tmp_path):
    """Live R oracle (RUN_R_ORACLE=1): the hand cohort and a larger tied one (a quarter of it outside the LTP analysis
    population) against cmprsk::cuminc on the rows ltp.R keeps (ltp_population), to 1e-6."""
    runner.rscript(("cmprsk",))  # opt-in guard: skips unless RUN_R_ORACLE=1
    rng = np.random.default_rng(10)
    reasons = [None, None, None, "residual_tumour", None, None, "first_imaging_not_evaluable", "no_follow_up_imaging"]
    larger = [
        (f"P{i}", int(rng.integers(1, 13)) * 30, int(rng.choice([0, 0, 1, 2])), reasons[int(rng.integers(0, 8))])
        for i in range(160)
    ]
    for rows in (HAND, larger):
        frame = adltp(rows)
        csv = tmp_path / "adltp.csv"
        frame.to_csv(csv, index=False)
        r_ltp = runner.r_values(Path(__file__).parent / "r_oracle" / "ltp.R", csv, packages=("cmprsk",))["ltp"]
        from analytics.stats.competing_risks import aalen_johansen_steps

        analysed = frame[frame["ltp_population"]]
        assert r_ltp["n"] == len(analysed) < len(frame)
        steps = aalen_johansen_steps(analysed["ltp_days"].to_numpy(float), analysed["ltp_event"].to_numpy(int), 1)
        curve = ltp_cumulative_incidence(frame).curve
        assert curve.n == len(analysed)
        python = {f"estimate@{t:g}": c for t, c in zip(steps["time"], steps["cif"], strict=True)}
        python |= {f"var@{t:g}": v for t, v in zip(steps["time"], steps["var"], strict=True)}
        python |= {f"landmark@{p.day:g}": p.estimate for p in curve.landmarks}
        assert len(r_ltp) >= 3 * 2 + 6
        for key, value in r_ltp.items():
            if key == "n" or key.startswith("landmark_var"):
                continue
            assert python[key] == pytest.approx(value, abs=1e-6), key
        for point in curve.points:  # the curve's own jumps are cuminc's
            assert point.estimate == pytest.approx(r_ltp[f"estimate@{point.day:g}"], abs=1e-6)


def test_derivation_needs_the_coded_snapshot_it_keys_patients_by():
    """Issue 17 (report CPU): the derivation joins on the integer patient keys of a coded snapshot; handed a snapshot
    whose study_id is plain text, it says so instead of joining text to codes."""
    snap = _snapshot_with_imaging([("P1", 1, 42, True, "none", False)], intents={"P1": "local_control"})
    from analytics.derive import analysis_patients, snapshot_coded

    coded = snapshot_coded(snap)
    patients = analysis_patients(coded)
    assert build_adltp(coded, patients)["study_id"].tolist() == ["P1"]
    with pytest.raises(TypeError, match="snapshot_coded"):
        build_lesion_control(snap, patients.assign(study_id=patients["study_id"].astype(object)))
