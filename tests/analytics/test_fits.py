"""Issue 17 item 5: the report's fits as a registry of independent jobs, run serially or fanned out.

- every registered job split into units (whole cohort + one per stratification variable, levels only)
  gives exactly what one call over all strata gives, so the split never changes a number;
- the fan-out runner (Redis; simulated workers in threads, a worker that takes a unit and dies) gives
  byte-identical numbers to the serial runner and never hangs;
- a job that raises is reported in ``fit_failures`` and the run still succeeds.
"""

from __future__ import annotations

import json
import threading
import time

import pytest
from django.conf import settings

from analytics import fanout, fits
from analytics.compute import mixed_model_section, numbers_compute, propensity_section
from analytics.dataset import snapshot_extract, snapshot_fingerprint
from analytics.derive import analysis_sets_build
from analytics.fits import FIT_JOBS, WHOLE, FitUnit, fit_unit_run, fit_units, serial_runner
from analytics.models import ReportRun, RunStatus
from analytics.parameters import parameters_parse
from analytics.render.files import numbers_json
from analytics.stats.mixed_model import ENDPOINTS
from analytics.stats.propensity import CONTRASTS
from analytics.stats.results import plain
from analytics.stats.strata import STRATA_VARIABLES
from tests.analytics.seeded import seeded_registry
from tests.conftest import require_service
from tests.integration.conftest import redis_available

pytestmark = pytest.mark.django_db
STRATA = {"strata": ["modality", "site", "augmentation"]}


@pytest.fixture
def frames(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    seeded_registry(90)
    params = parameters_parse(STRATA)
    snapshot = snapshot_extract()
    return analysis_sets_build(snapshot, params), params, snapshot_fingerprint(snapshot)


def test_units_of_a_run_follow_each_jobs_scope():
    units = fit_units(("modality", "site"))
    assert FitUnit("sre.cumulative_incidence", "all") in units and FitUnit("sre.cumulative_incidence", "site") in units
    assert FitUnit("sre.gray", "modality") in units and FitUnit("sre.gray", "all") not in units  # a test needs a variable
    assert [u for u in units if u.name == "sre.cox"] == [FitUnit("sre.cox", WHOLE)]
    assert len(units) == len(set(units))
    assert FitUnit.from_id(FitUnit("a|b", "site").id) == FitUnit("a|b", "site")


def test_every_job_split_into_units_equals_one_call_over_all_strata(frames):
    """Whole cohort once + each variable's levels alone == one call: the fan-out's split is exact."""
    sets, params, _ = frames
    assert len(FIT_JOBS) >= 15
    for job in FIT_JOBS.values():
        units = [u for u in fit_units(params.strata) if u.name == job.name]
        merged = fits.fragments_merge(units, serial_runner(units, sets, params))
        one_call = json.loads(json.dumps(plain(job.func(sets, params, params.strata))))
        assert "fit_failures" not in merged, merged.get("fit_failures")
        assert json.dumps(merged, sort_keys=True) == json.dumps(one_call, sort_keys=True), job.name


def test_strata_free_run_keeps_empty_test_lists(frames):
    sets, _, fingerprint = frames
    numbers = numbers_compute(sets, parameters_parse({"strata": []}), fingerprint=fingerprint)
    assert numbers["sre"]["gray"] == [] and numbers["sre"]["logrank"] == [] and numbers["overall_survival"]["logrank"] == []
    assert set(numbers["sre"]["time_grid"]["at_risk"]) == {"all"}


def test_a_failing_job_is_reported_in_the_result_and_the_run_succeeds(frames, monkeypatch):
    def broken(sets, params, strata):
        if strata == ("site",):
            raise RuntimeError("singular matrix")
        return original(sets, params, strata)

    original = FIT_JOBS["sre.gray"].func
    monkeypatch.setitem(FIT_JOBS, "sre.gray", fits.FitJob("sre.gray", broken, "variables", 0.03))
    cox = FIT_JOBS["sre.cox"]
    monkeypatch.setitem(FIT_JOBS, "sre.cox", fits.FitJob("sre.cox", lambda *a: 1 / 0, "whole", 0.7, None, cox.on_failure))
    run = ReportRun.objects.create(parameters=STRATA)
    from analytics.pipeline import report_run_pipeline

    numbers = report_run_pipeline(run.pk)
    run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED, run.error_message
    assert numbers["fit_failures"] == [
        {"job": "sre.gray", "stratum": "site", "reason": "RuntimeError: singular matrix"},
        {"job": "sre.cox", "stratum": WHOLE, "reason": "ZeroDivisionError: division by zero"},
    ]
    assert [g["variable"] for g in numbers["sre"]["gray"]] == ["modality", "augmentation"]  # the others are there
    # the model stands in as skipped with the reason (shown in the report like a degenerate model)
    assert numbers["sre"]["cox"]["skipped_reason"] == "not computed: ZeroDivisionError: division by zero"
    assert numbers["sre"]["cox"]["terms"] == [] and "not computed" not in str(
        numbers["overall_survival"]["cox"]["skipped_reason"]
    )
    assert json.loads((run.directory / "result.json").read_text())["fit_failures"] == numbers["fit_failures"]


# --- the fan-out runner on a real Redis (simulated workers in this process) -----------------------------
@pytest.fixture
def redis_broker(settings):
    import os

    url = os.environ.get("CELERY_BROKER_URL", "")
    require_service(redis_available(url), "needs Redis: set CELERY_BROKER_URL=redis://127.0.0.1:6379/N")
    settings.CELERY_BROKER_URL = url
    return url


@pytest.mark.integration
def test_fanout_with_helper_workers_gives_byte_identical_numbers(frames, redis_broker, monkeypatch):
    sets, params, fingerprint = frames
    taken_by_helpers: list[str] = []

    def dispatch(token, count, queue, expires):  # two "workers" draining the list in threads
        def work():
            while unit := fanout.fit_units_work(token):
                taken_by_helpers.append(unit)

        for _ in range(2):
            threading.Thread(target=work, daemon=True).start()

    monkeypatch.setattr(fanout, "_dispatch", dispatch)
    serial = numbers_compute(sets, params, fingerprint=fingerprint)
    fanned = numbers_compute(sets, params, fingerprint=fingerprint, runner=fanout.fanout_runner(fingerprint=fingerprint))
    assert numbers_json(fanned) == numbers_json(serial)
    assert taken_by_helpers, "the helper workers took no unit"
    assert len(taken_by_helpers) < len(fit_units(params.strata))  # the coordinating process worked too
    assert not fanout.redis_client().keys(f"{fanout.PREFIX}*") and not fanout.redis_client().keys(f"{fanout.FRAMES_PREFIX}*")


@pytest.mark.integration
def test_a_worker_lost_with_a_unit_does_not_hang_the_run(frames, redis_broker, monkeypatch, settings):
    sets, params, fingerprint = frames
    settings.REPORTS_FIT_UNIT_TIMEOUT_SECONDS = 1.0
    lost: list[str] = []

    def dispatch(token, count, queue, expires):  # a worker takes the first unit and dies before sending it back
        client = fanout.redis_client()
        unit = client.lpop(f"{fanout.PREFIX}{token}:todo").decode()
        client.hset(f"{fanout.PREFIX}{token}:taken", unit, time.time())
        lost.append(unit)

    monkeypatch.setattr(fanout, "_dispatch", dispatch)
    started = time.monotonic()
    fanned = numbers_compute(sets, params, fingerprint=fingerprint, runner=fanout.fanout_runner(fingerprint=fingerprint))
    assert time.monotonic() - started < 120
    assert lost and numbers_json(fanned) == numbers_json(numbers_compute(sets, params, fingerprint=fingerprint))


@pytest.mark.integration
def test_frames_with_a_bad_signature_are_not_loaded(redis_broker):
    client = fanout.redis_client()
    client.set("reports:frames:test-forged", b"x" * 32 + b"not a pickle", ex=30)
    with pytest.raises(ValueError, match="bad signature"):
        fanout._frames_load(client, "reports:frames:test-forged")
    client.delete("reports:frames:test-forged")


def test_fit_unit_run_fragments_are_json_round_tripped(frames):
    sets, params, _ = frames
    fragment = fit_unit_run(FitUnit("overall_survival.km", "modality"), sets, params)
    assert json.loads(json.dumps(fragment)) == fragment
    assert set(fragment["overall_survival"]["km"]) == {k for k in fragment["overall_survival"]["km"] if k.startswith("modality=")}
    assert settings.REPORTS_FIT_FANOUT is True


def test_fanout_without_a_reachable_redis_computes_here(frames, settings):
    """Redis down at the compute stage: the units run in this process and the numbers are the same."""
    sets, params, fingerprint = frames
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"  # nothing listens on port 1
    fanned = numbers_compute(sets, params, fingerprint=fingerprint, runner=fanout.fanout_runner(fingerprint=fingerprint))
    assert numbers_json(fanned) == numbers_json(numbers_compute(sets, params, fingerprint=fingerprint))


# --- the schedule: measured costs, split jobs (issue 17 item 5: two workers within 1.6x of one) -----------------
def test_split_jobs_merge_to_exactly_the_unsplit_sections(frames):
    """The mixed models (one job per endpoint) and the propensity comparisons (one job per contrast) merged in
    plan order give the section one call over every endpoint / contrast and every stratum gives."""
    sets, params, _ = frames
    units = fit_units(params.strata)
    fragments = serial_runner(units, sets, params)
    merged = fits.fragments_merge(units, fragments)
    assert {u.name for u in units} >= {"mixed_model.worst", "mixed_model.omed", "propensity.cement", "propensity.intent"}
    assert "mixed_model" not in FIT_JOBS and "propensity" not in FIT_JOBS
    unsplit_models = plain(mixed_model_section(sets, params, params.strata))
    unsplit_propensity = plain(propensity_section(sets, params))
    assert set(unsplit_models) == {"worst", "interference", "omed"} and len(unsplit_propensity) == 4
    assert json.dumps(merged["mixed_model"], sort_keys=True) == json.dumps(unsplit_models, sort_keys=True)
    assert json.dumps(merged["propensity"], sort_keys=True) == json.dumps(unsplit_propensity, sort_keys=True)
    assert fragments[FitUnit("mixed_model.omed", "site")]["mixed_model"].keys() == {"omed"}  # one endpoint per unit


def test_the_report_keeps_the_requested_contrast_order(frames):
    sets, _, fingerprint = frames
    params = parameters_parse({**STRATA, "contrasts": ["intent", "cement"]})
    numbers = numbers_compute(sets, params, fingerprint=fingerprint)
    assert list(numbers["propensity"]) == ["intent", "cement"]  # the PDF lists them in this order
    assert numbers_compute(sets, parameters_parse({**STRATA, "contrasts": []}), fingerprint=fingerprint)["propensity"] == {}


def test_schedule_starts_with_the_measured_heaviest_units():
    """Every job has a measured cost; the propensity contrasts (the longest units at 100,000 patients,
    analytics/fit_costs.py) come first, every stratified unit before the cheaper whole-cohort one, and the
    Kaplan-Meier curves and log-rank tests last."""
    from analytics.fit_costs import FIT_COSTS

    assert set(FIT_JOBS) <= set(FIT_COSTS)
    order = fits.schedule_order(fit_units(STRATA_VARIABLES))
    assert {u.id for u in order[:4]} == {f"propensity.{name}|*" for name in CONTRASTS}
    assert order[4] == FitUnit("time_to_response", "site")
    for endpoint in ENDPOINTS:
        assert order.index(FitUnit(f"mixed_model.{endpoint}", "site")) < order.index(FitUnit(f"mixed_model.{endpoint}", "all"))
    assert order.index(FitUnit("mixed_model.worst", "site")) < order.index(FitUnit("mixed_model.worst", "all"))
    cheap = [i for i, u in enumerate(order) if u.name in ("sre.logrank", "overall_survival.km", "sre.gray")]
    assert min(cheap) > order.index(FitUnit("cohort", WHOLE))
    assert [fits.unit_cost(u) for u in order] == sorted((fits.unit_cost(u) for u in order), reverse=True)
    assert fits.unit_cost(FitUnit("pain", "region")) == FIT_COSTS["pain"]["default"]  # type: ignore[index]
    assert fits.unit_cost(FitUnit("no such job", "all")) == 0.0


def test_lpt_makespan_against_hand_computed_schedules():
    # 5, 4 → one each; 3 → the worker at 4 (7); 3 → the one at 5 (8); 3 → the one at 7 (10). The best split is
    # 9 (5 + 4 | 3 + 3 + 3): longest-first is not optimal, only within 4/3 of it.
    assert fits.lpt_makespan([5, 4, 3, 3, 3], 2) == 10
    assert fits.lpt_makespan([5, 4, 3, 3, 3], 1) == 18
    assert fits.lpt_makespan([2.0, 1.0], 3) == 2.0
    assert fits.lpt_makespan([], 2) == 0.0


@pytest.mark.integration
def test_frames_go_to_redis_in_pieces_and_load_back_signed(redis_broker, monkeypatch):
    """Issue 17 (worker memory): the frames are pickled into Redis piece by piece, never whole in the run's
    process; a reader sees the finished value or nothing, and it loads back equal, with its TTL."""
    import numpy as np
    import pandas as pd

    client = fanout.redis_client()
    frames = {
        "big": pd.DataFrame({"x": np.arange(600_000, dtype=np.float64), "y": np.arange(600_000) % 7}),  # 4.8 MB arrays
        "text": pd.Series([f"P-{i:06d}" for i in range(50_000)], dtype=object),
        "small": (1, "a", None),
    }
    pieces: list[int] = []
    append = client.append

    def counted(key, value):
        pieces.append(len(memoryview(value).cast("B")))
        assert client.get("reports:frames:test-pieces") is None  # nothing under the real key until the end
        return append(key, value)

    monkeypatch.setattr(client, "append", counted)
    size = fanout.frames_publish(client, "reports:frames:test-pieces", frames, ttl=60)
    try:
        assert size == sum(pieces) and len(pieces) > 3
        assert max(pieces) <= 600_000 * 8  # the largest array's data, never the whole pickle
        assert 0 < client.ttl("reports:frames:test-pieces") <= 60
        assert not client.keys("reports:frames:test-pieces:partial:*")
        fanout._frames_cache.clear()
        loaded = fanout._frames_load(client, "reports:frames:test-pieces")
        pd.testing.assert_frame_equal(loaded["big"], frames["big"])
        assert loaded["text"].tolist() == frames["text"].tolist() and loaded["small"] == frames["small"]
    finally:
        fanout._frames_cache.clear()
        client.delete("reports:frames:test-pieces")
