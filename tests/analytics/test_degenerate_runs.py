"""Issue 12: report runs on small degenerate registries finish, with the undefined statistics
reported as not computable (and why) instead of failing the run."""

from __future__ import annotations

import datetime as dt
import json

import pandas as pd
import pytest
from django.core.management import call_command

from analytics.models import ReportRun, RunStatus
from tests.analytics.registries import PatientSpec, registry_build

pytestmark = pytest.mark.django_db


def test_singular_logrank_is_reported_and_the_run_finishes(settings, tmp_path, coordinator, site, today):
    # RFA with an SRE on day 30, cryo with an SRE on day 30, cryo censored (lost to follow-up) on day 3.
    settings.MEDIA_ROOT = tmp_path / "media"
    registry_build(
        coordinator,
        site,
        [
            PatientSpec(modality="RFA", sre_day=30, exit="completion", exit_day=30),
            PatientSpec(modality="cryo", sre_day=30, exit="completion", exit_day=30),
            PatientSpec(modality="cryo", exit="lost_to_follow_up", exit_day=3),
        ],
        today=today,
    )
    out = tmp_path / "out"
    call_command("run_report", "--sync", "--strata", "modality", "--out", str(out))
    assert ReportRun.objects.get().status == RunStatus.SUCCEEDED
    result = json.loads((out / "result.json").read_text())
    (test,) = result["sre"]["logrank"]
    assert test["variable"] == "modality" and test["chisq"] is None and test["p_value"] is None
    assert test["skipped_reason"].startswith("not computable") and "no variance" in test["skipped_reason"]
    (gray,) = result["sre"]["gray"]  # Gray's test beside the cause-specific log-rank, each labelled
    assert gray["test"].startswith("Gray's test") and test["test"].startswith("cause-specific log-rank")
    assert gray["statistic"] is None and gray["skipped_reason"].startswith("not computable")
    grid = result["sre"]["time_grid"]  # spans the follow-up (30 days here)
    assert grid["days"] == [0, 30] and grid["at_risk"]["all"] == [3, 2] and grid["estimate"]["modality=RFA"] == [0.0, 1.0]
    logrank_sheet = pd.read_excel(out / "tables.xlsx", sheet_name="logrank")
    sre_row = logrank_sheet[logrank_sheet["endpoint"] == "sre"].iloc[0]
    assert sre_row["note"].startswith("not computable")


def test_local_tumour_control_without_ltp_or_palliative_imaging_is_not_estimable(settings, tmp_path, coordinator, site, today):
    """Issue 10 part B: one local-control patient imaged twice (complete ablation, no LTP), two palliative patients
    never imaged (one dies): technical success 1/1 with its exact CI; every LTP curve not estimable, with the reason."""
    from trials import services

    settings.MEDIA_ROOT = tmp_path / "media"
    local, *_ = registry_build(
        coordinator,
        site,
        [
            PatientSpec(modality="cryo", intent="local_control"),
            PatientSpec(modality="RFA", intent="palliative", exit="death", exit_day=60),
            PatientSpec(modality="RFA", intent="palliative"),
        ],
        today=today,
    )
    for day, first in ((40, True), (130, False)):
        services.imaging_assessment_record(
            actor=coordinator,
            patient=local,
            data={
                "lesion_instance": 1,
                "assessment_date": local.day0 + dt.timedelta(days=day),
                "imaging_modality": "mri",
                "first_post_procedure": first,
                "viable_tumour": "none",
            },
        )
    out = tmp_path / "out"
    call_command("run_report", "--sync", "--out", str(out))
    assert ReportRun.objects.get().status == RunStatus.SUCCEEDED
    result = json.loads((out / "result.json").read_text())
    assert "fit_failures" not in result
    section = result["local_tumour_control"]
    success = section["technical_success"]
    assert (success["all"]["n_lesions"], success["all"]["success"], success["all"]["rate"]) == (1, 1, 1.0)
    assert success["all"]["ci_low"] == pytest.approx(0.025) and success["all"]["ci_high"] == 1.0
    assert success["intent=palliative"]["no_first_imaging"] == 2 and success["intent=palliative"]["rate"] is None
    assert success["intent=palliative"]["skipped_reason"].startswith("not estimable")
    curves = section["ltp"]["strata"]
    assert curves["all"]["skipped_reason"] == (
        "not estimable: no local tumour progression observed (1 patients with complete ablation)"
    )
    assert curves["intent=palliative"]["skipped_reason"] == "not estimable: no imaging follow-up recorded in this stratum"
    # the never-imaged palliative patients are outside the LTP analysis (no complete ablation documented), the one
    # who died included: counted as excluded, not as a competing death
    assert curves["intent=palliative"]["excluded"]["no_follow_up_imaging"] == 2
    assert curves["intent=palliative"]["competing_events"] == 0 and curves["all"]["at_days"]["90"]["at_risk"] == 1
    assert (curves["all"]["complete_ablation"], curves["all"]["imaged"], curves["all"]["technique_efficacy"]) == (1, 1, 1.0)
    grid = section["ltp"]["time_grid"]
    assert grid["at_risk"]["all"][0] == 1 and set(grid["estimate"]["all"]) == {None}  # not estimable: null, not 0
    sheet = pd.read_excel(out / "tables.xlsx", sheet_name="local_control_ltp")
    assert sheet.loc[sheet["stratum"] == "all", "note"].str.startswith("not estimable").all()
    assert not (out / "ltp_cumulative_incidence.png").exists()  # no curve to draw


def test_cox_table_shows_the_separation_flag_not_a_bare_estimate():
    # Issue 12: 19 patients, OS deaths RFA 5/8, cryo 3/6, MWA 0/5 printed "MWA 1.92e-12, 0 – 1" with no flag.
    from analytics.render.tables import cox_frame
    from analytics.stats import cox_fit
    from tests.analytics.r_oracle.degenerate import separation_frame

    model = cox_fit(separation_frame(), covariates=("modality",)).to_dict()
    sre = {**model, "endpoint": "sre", "terms": [], "flags": [], "skipped_reason": "too few events (0) for 2 parameter(s)"}
    frame = cox_frame({"sre": {"cox": sre}, "overall_survival": {"cox": model}}).set_index("term")
    mwa, cryo = frame.loc["modality=MWA"], frame.loc["modality=cryo"]
    assert mwa[["hr", "ci_low", "ci_high", "p_value"]].isna().all()
    assert "separation: not estimable" in mwa["flag"] and "few events per parameter" in mwa["flag"]
    assert cryo["hr"] == pytest.approx(1.3726, rel=1e-4) and "separation" not in cryo["flag"]
    assert "few events per parameter" in cryo["flag"]


def _codeine(per_day: str) -> dict:
    return {"drug": "codeine", "route": "oral", "dose": "16", "unit": "mg", "doses_per_day": per_day}


@pytest.mark.parametrize(
    ("month1_meds", "expected"),
    [
        ([_codeine("3")], "PR"),  # 9.60 → 7.20 MME/day = exactly 0.75·B: partial response (issue 12)
        # 7.20 as 3.60 + 3.60 (two entries of codeine 8 mg × 3): the visit sum is exact too.
        ([{**_codeine("3"), "dose": "8"}, {**_codeine("3"), "dose": "8"}], "PR"),
        ([{**_codeine("3"), "dose": "16.02"}], "indeterminate"),  # 7.21 MME/day: a reduction just under 25%
    ],
)
def test_exact_25_percent_codeine_reduction_is_a_partial_response(coordinator, site, today, month1_meds, expected):
    from analytics.dataset import snapshot_extract
    from analytics.derive import analysis_sets_build
    from analytics.parameters import parameters_parse
    from tests.factories import enroll_patient, visit_data
    from trials import services

    patient = enroll_patient(
        coordinator, site, enrollment_date=today - dt.timedelta(days=100), day0=today - dt.timedelta(days=95)
    )
    visits = {v.visit_code: v for v in patient.visits.all()}
    services.visit_record(
        actor=coordinator, visit=visits["baseline"], data=visit_data(patient.day0, worst=7, meds=[_codeine("4")])
    )
    services.visit_record(
        actor=coordinator,
        visit=visits["month1"],
        data=visit_data(patient.day0 + dt.timedelta(days=30), worst=7, meds=month1_meds),
    )
    adresp = analysis_sets_build(snapshot_extract(), parameters_parse({"visits": ["month1"]})).adresp
    row = adresp[adresp["visit"] == "month1"].iloc[0]
    assert (row["omed_baseline"], row["response"]) == (9.6, expected)


def test_a_registry_without_treated_patients_still_gives_a_report(settings, tmp_path, coordinator, site, today):
    # Found by the property test: no treated patient (no dated record) made derive fail.
    settings.MEDIA_ROOT = tmp_path / "media"
    registry_build(coordinator, site, [PatientSpec(treated=False)], today=today)
    out = tmp_path / "out"
    call_command("run_report", "--sync", "--out", str(out))
    assert ReportRun.objects.get().status == RunStatus.SUCCEEDED
    result = json.loads((out / "result.json").read_text())
    assert result["n_patients"] == 0 and result["overall_survival"]["time_grid"]["days"] == [0]
    assert result["sre"]["curves"]["all"]["skipped_reason"] == "no patients with a follow-up time"
