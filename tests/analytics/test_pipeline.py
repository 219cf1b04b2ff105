"""Report runs end to end on one 120-patient registry seeded per module: run_report --sync, artifacts, reuse,
determinism, failures (requests without data: test_report_requests.py)."""

from __future__ import annotations

import json

import numpy as np
import pypdfium2 as pdfium
import pytest
from django.core.management import call_command
from django.db import transaction
from django.test import override_settings

from analytics import pipeline, services
from analytics.models import ReportRun, RunStatus
from analytics.render.files import numbers_json, result_numbers
from analytics.tasks import report_run_execute
from tests.analytics.seeded import seeded_registry
from tests.module_data import module_transaction
from trials import services as trial_services
from trials.models import PainAssessment

pytestmark = pytest.mark.django_db

PLOTS = ("pain_trajectory", "omed_trajectory", "response_bars", "sre_cumulative_incidence", "overall_survival")
# One figure set for all patients and one per requested stratification variable (here modality, augmentation).
ARTIFACTS = {
    "result.json",
    "adtte.csv",
    "adresp.csv",
    "tables.xlsx",
    "report.pdf",
    "site_funnel.png",  # the exploratory section's funnel plots (issue 16)
    *(f"{plot}{suffix}.png" for plot in PLOTS for suffix in ("", "_by_modality", "_by_augmentation")),
}


@pytest.fixture(scope="module")
def seeded(django_db_setup, django_db_blocker, tmp_path_factory):
    """The 120-patient registry, seeded once for the module (each test is rolled back to it), and one full run
    (strata modality, augmentation) whose files and ReportRun the read-only tests inspect: the run itself is rolled
    back, so every test starts without runs. Yields that run and its --out directory."""
    media = tmp_path_factory.mktemp("pipeline-media")
    with module_transaction(django_db_blocker), override_settings(MEDIA_ROOT=media):
        with django_db_blocker.unblock():
            seeded_registry(120)
            out = tmp_path_factory.mktemp("pipeline-out")
            with transaction.atomic():
                call_command("run_report", "--sync", "--strata", "modality,augmentation", "--out", str(out))
                run = ReportRun.objects.get()
                transaction.set_rollback(True)
        yield run, out


@pytest.fixture
def registry(seeded, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


def test_run_report_sync_writes_every_artifact_and_the_pdf_shows_its_pages(seeded):
    run, out = seeded
    assert ARTIFACTS <= {p.name for p in out.iterdir()}
    assert (run.status, run.progress, set(run.timings)) == (RunStatus.SUCCEEDED, 100, {"extract", "derive", "compute", "render"})
    # plus one propensity figure (love plot + weighted curves, issue 16) per contrast whose balance was computed
    result = json.loads((out / "result.json").read_text())
    love = {f"propensity_love_by_{c}.png" for c, e in result["propensity"].items() if e["balance"]}
    # the LTP cumulative incidence (issue 10 part B): drawn when estimable, by a variable with two estimable levels
    curves = result["local_tumour_control"]["ltp"]["strata"]
    estimable = [key for key, curve in curves.items() if curve["skipped_reason"] is None]
    ltp = {"ltp_cumulative_incidence.png"} if "all" in estimable else set()
    for variable in ("guidance", "modality"):
        if ltp and sum(key.startswith(f"{variable}=") for key in estimable) > 1:
            ltp.add(f"ltp_cumulative_incidence_by_{variable}.png")
    assert set(run.artifacts) == ARTIFACTS | love | ltp
    assert all((run.directory / name).stat().st_size > 0 for name in ARTIFACTS)
    pdf = pdfium.PdfDocument(str(out / "report.pdf"))
    assert len(pdf) > 1
    for index in (0, len(pdf) - 1):  # the cohort table and the last plot
        pixels = np.asarray(pdf[index].render(scale=1).to_pil().convert("L"), dtype=float)
        assert pixels.std() > 5, f"page {index + 1} looks blank"
        assert (pixels < 128).mean() > 0.002


def test_result_json_follows_the_contract(seeded):
    _, out = seeded
    result = json.loads((out / "result.json").read_text())
    assert len(result["fingerprint"]) == 64 and result["n_patients"] > 100
    assert {"generated_at", "code_version", "numbers_sha256"} <= set(result["metadata"])
    assert result["parameters"]["strata"] == ["modality", "augmentation"]
    cif = result["sre"]["cumulative_incidence"]
    assert "all" in cif and "modality=RFA" in cif and "augmentation=cement" in cif
    assert not any(key.startswith("site=") for key in cif)
    assert all(set(point) == {"day", "estimate", "ci_low", "ci_high", "at_risk"} for point in cif["all"])
    assert set(result["overall_survival"]["km"]) == set(cif)
    assert set(result["sre"]["at_days"]["all"]) == {"30", "90", "180", "365"}
    month1 = result["pain_response"]["month1"]["all"]
    assert {"CR", "PR", "PD", "indeterminate", "not_evaluable", "evaluable_rate", "itt_rate"} <= set(month1)
    assert 0 < month1["itt_rate"] <= month1["evaluable_rate"] <= 1
    propensity = result["propensity"]  # issue 16: every contrast by default, each with a status and its reason
    assert set(propensity) == {"cement", "radiation_sequence", "modality", "intent"}
    for entry in propensity.values():
        assert entry["status"] in {"estimated", "not_estimable", "poor_overlap", "balance_not_reached"}
        assert (entry["status"] == "estimated") == (entry["reason"] is None)
        assert entry["status"] != "estimated" or entry["max_smd_after"] <= 0.1


def test_two_runs_on_the_same_data_give_byte_identical_numbers(registry, tmp_path):
    call_command("run_report", "--sync", "--out", str(tmp_path / "a"))
    call_command("run_report", "--sync", "--force", "--out", str(tmp_path / "b"))
    first, second = (json.loads((tmp_path / d / "result.json").read_text()) for d in ("a", "b"))
    assert first["metadata"]["run_id"] != second["metadata"]["run_id"]
    assert numbers_json(result_numbers(first)) == numbers_json(result_numbers(second))
    assert first["metadata"]["numbers_sha256"] == second["metadata"]["numbers_sha256"]
    assert (tmp_path / "a" / "adtte.csv").read_bytes() == (tmp_path / "b" / "adtte.csv").read_bytes()


def test_same_parameters_and_data_reuse_the_finished_run_until_a_clinical_edit(
    registry, data_manager, investigator, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):  # the task runs eagerly in tests
        run, reused = services.report_run_request(actor=investigator, parameters={})
    assert not reused and ReportRun.objects.get(pk=run.pk).status == RunStatus.SUCCEEDED
    again, reused = services.report_run_request(actor=investigator, parameters={"strata": list(run.parameters["strata"])})
    assert reused and again.pk == run.pk
    pain = PainAssessment.objects.filter(worst__gt=0).order_by("pk").first()
    trial_services.clinical_record_update(
        actor=data_manager, instance=pain, changes={"worst": pain.worst - 1}, reason="Source check"
    )
    with django_capture_on_commit_callbacks(execute=True):
        fresh, reused = services.report_run_request(actor=investigator, parameters={})
    assert not reused and fresh.pk != run.pk
    fresh.refresh_from_db()
    assert fresh.fingerprint != ReportRun.objects.get(pk=run.pk).fingerprint


def test_runs_are_enqueued_only_when_the_transaction_commits(
    registry, investigator, django_capture_on_commit_callbacks, monkeypatch
):
    sent = []
    monkeypatch.setattr("analytics.tasks.report_run_execute.delay", lambda run_id, **kwargs: sent.append(run_id))
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        run, _ = services.report_run_request(actor=investigator, parameters={}, force=True)
    assert sent == [] and len(callbacks) == 1
    callbacks[0]()
    assert sent == [run.pk]


def test_a_failing_computation_leaves_the_run_failed_with_a_readable_message(registry, monkeypatch):
    def broken(*args, **kwargs):
        raise ValueError("adtte frame lacks column(s): sre_days")

    monkeypatch.setattr(pipeline, "numbers_compute", broken)
    run, _ = services.report_run_request(actor=None, parameters={}, enqueue=False)
    assert report_run_execute.apply(args=[run.pk]).get() == RunStatus.FAILED
    run.refresh_from_db()
    assert run.status == RunStatus.FAILED and run.finished_at is not None
    assert run.error_message == "Stage 'compute' failed: ValueError: adtte frame lacks column(s): sre_days"
    assert run.stage == "compute" and run.timings == {
        "extract": pytest.approx(run.timings["extract"]),
        "derive": pytest.approx(run.timings["derive"]),
    }


def test_a_sync_command_failure_is_reported_and_recorded(registry, monkeypatch):
    monkeypatch.setattr(pipeline, "artifacts_render", lambda *a, **k: 1 / 0)
    with pytest.raises(Exception, match="division by zero"):
        call_command("run_report", "--sync")
    assert ReportRun.objects.get().status == RunStatus.FAILED


def test_a_transient_database_error_is_retried_and_the_run_then_succeeds(registry, monkeypatch):
    from django.db import OperationalError

    real, calls = pipeline.analysis_sets_build, []

    def flaky(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise OperationalError("server closed the connection unexpectedly")
        return real(*args, **kwargs)

    monkeypatch.setattr(pipeline, "analysis_sets_build", flaky)
    monkeypatch.setattr("analytics.tasks.report_run_execute.retry_backoff", False)
    run, _ = services.report_run_request(actor=None, parameters={"strata": ["modality"]}, enqueue=False)
    report_run_execute.apply(args=[run.pk])
    run.refresh_from_db()
    assert (run.status, run.attempts, len(calls)) == (RunStatus.SUCCEEDED, 2, 2)
    assert run.error_message == ""


def test_nightly_refresh_requests_the_default_report_and_reuses_it_while_data_are_unchanged(
    registry, django_capture_on_commit_callbacks
):
    from analytics.tasks import refresh_default_report

    with django_capture_on_commit_callbacks(execute=True):
        first = refresh_default_report()
    assert ReportRun.objects.get(pk=first).status == RunStatus.SUCCEEDED
    with django_capture_on_commit_callbacks(execute=True):
        assert refresh_default_report() == first


def test_a_run_at_an_unchanged_data_version_reuses_the_fingerprint_without_hashing(registry, monkeypatch, tmp_path):
    """Same registry data version → same data: the second run takes the first run's fingerprint (issue 17)."""
    call_command("run_report", "--sync", "--strata", "modality", "--out", str(tmp_path / "a"))
    first = ReportRun.objects.get()

    def no_hashing(snapshot):
        raise AssertionError("the snapshot was hashed again")

    monkeypatch.setattr(pipeline, "snapshot_fingerprint", no_hashing)
    call_command("run_report", "--sync", "--force", "--strata", "modality", "--out", str(tmp_path / "b"))
    second = ReportRun.objects.exclude(pk=first.pk).get()
    assert second.status == RunStatus.SUCCEEDED and second.fingerprint == first.fingerprint
    assert second.data_version == first.data_version
