"""Report results match the golden output of the pre-issue-17 pipeline (issue 17 acceptance).

The golden files under ``tests/fixtures/report_golden/`` were written by the pipeline as it was *before*
issue 17 (ORM ``values_list`` extraction, text-keyed derivation, ``%.10g`` CSVs), on the seeded registry
below (a fixed seed and anchor date, plus an edit and two voids so record versions and voided rows are
exercised). The faster pipeline must reproduce them: the canonical numbers of
``result.json`` (everything but its ``metadata`` block: run id, time, code version), ``adtte.csv`` and
``adresp.csv``. CI runs this on PostgreSQL (the COPY extraction), a laptop on SQLite (the ORM
extraction), so both paths are held to the same numbers.

Across machines the numbers of ``result.json`` cannot all be byte-identical: the same locked packages run
libm and LAPACK/BLAS kernels chosen for the CPU, so the 16th–17th significant digit of a log, an exp or a
solve can differ (seen: an Aalen–Johansen confidence limit …43799901743 on one machine, …43799901746 on
another). So every section is compared with the same structure, keys, strings, integers and None exactly, and
floats to ``RELATIVE_TOLERANCE`` (1e-9 relative: a changed computation moves far more digits than that; an
iterative fit on an ill-conditioned information matrix amplifies the last-digit noise — seen: 1.1e-12 relative on a
near-separated Cox term's confidence limit),
the repeated-measures model's section to 1e-5 (see ``MACHINE_DEPENDENT_SECTIONS``); the CSVs (``%.10g`` and
integers) stay byte-identical. Byte identity on one machine is held by
``test_pipeline.py::test_two_runs_on_the_same_data_give_byte_identical_numbers`` and the fan-out tests.
Analyses added after the golden files were written (new top-level sections of result.json) are allowed.
To regenerate after a *deliberate* change of the numbers:
``REPORT_GOLDEN_WRITE=1 python -m pytest tests/analytics/test_report_golden.py`` and review the diff.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from analytics import pipeline
from analytics.render.files import ADRESP_CSV, ADTTE_CSV, RESULT_JSON, analysis_csvs_write, numbers_json, result_json_write
from analytics.services import report_run_request
from tests.analytics.seeded import seeded_registry
from trials import services
from trials.models import PainAssessment, SkeletalEvent, Visit

pytestmark = pytest.mark.django_db

GOLDEN = Path(__file__).resolve().parent.parent / "fixtures" / "report_golden"
PATIENTS = 200
SCENARIOS = {
    "default": {},
    "modality_hypercalcaemia": {"strata": ["modality"], "include_hypercalcaemia": True},
}


def _edited_registry(actor) -> None:
    """The seeded registry with one edit (a version bump) and two voids (an SRE, a whole visit)."""
    seeded_registry(PATIENTS)
    pain = PainAssessment.objects.filter(worst__lt=10).order_by("pk").first()
    services.clinical_record_update(actor=actor, instance=pain, changes={"worst": pain.worst + 1}, reason="Transcription error")
    sre = SkeletalEvent.objects.order_by("pk").first()
    services.clinical_record_void(actor=actor, instance=sre, reason="Entered for the wrong patient")
    visit = Visit.objects.filter(visit_date__isnull=False, visit_code="month1").order_by("pk").first()
    services.clinical_record_void(actor=actor, instance=visit, reason="Visit did not happen")


def _files_only_render(directory: Path, *, numbers, sets, metadata) -> list[str]:
    """The render stage reduced to the artifacts compared here (plots and the PDF are not byte-stable)."""
    directory.mkdir(parents=True, exist_ok=True)
    return [result_json_write(directory, numbers, metadata), *analysis_csvs_write(directory, sets)]


def _run(parameters: dict) -> Path:
    run, _ = report_run_request(actor=None, parameters=parameters, force=True, enqueue=False)
    pipeline.report_run_pipeline(run.pk)
    return run.directory


# The REML fit of the repeated-measures model is an iterative optimisation whose linear algebra runs in
# LAPACK/BLAS kernels chosen for the CPU, so its last digits depend on the machine: the same locked packages gave
# −0.03299508611652879 on one machine and −0.03299509478580655 on another, and a variance component 0.0781005939
# on one and 0.0781006736 on a third (1.0e-6 relative). The REML optimum is found by Brent's method on a criterion
# that is flat there (quadratic in log γ), so a last-digit change of the criterion moves the argmin by about the
# square root of the double-precision epsilon's effect: ~1e-6 relative. It is held to 1e-5 relative (the
# estimates are reported to 2 decimals); every other section is held to 1e-9 relative (module docstring).
MACHINE_DEPENDENT_SECTIONS = {"mixed_model": 1e-5}
RELATIVE_TOLERANCE = 1e-9
ABSOLUTE_TOLERANCE = 1e-15  # near 0, where a relative bound means nothing
# A model term the report marks not estimable (``"estimable": false``, e.g. separation: no deaths in a level, the
# estimate runs to 0) has no meaningful value: where Newton–Raphson stopped on the way to infinity differs by machine
# (seen: hazard ratio 8.2e-09 on one, 1.08e-08 on another). Its flags and every other field are compared; its floats
# only as floats.
NOT_ESTIMABLE = ("estimable", False)


def _assert_same_numbers(actual, expected, where: str, tolerance: float = RELATIVE_TOLERANCE) -> None:
    """Same structure, same strings/ints/None; floats within ``tolerance`` relative (``ABSOLUTE_TOLERANCE`` near 0)."""
    if isinstance(expected, dict):
        assert isinstance(actual, dict) and set(actual) == set(expected), f"{where}: keys differ"
        not_estimable = NOT_ESTIMABLE in expected.items()
        for key in expected:
            if not_estimable and isinstance(expected[key], float):
                assert isinstance(actual[key], float), f"{where}.{key}: {actual[key]!r} vs {expected[key]!r}"
                continue
            _assert_same_numbers(actual[key], expected[key], f"{where}.{key}", tolerance)
    elif isinstance(expected, list):
        assert isinstance(actual, list) and len(actual) == len(expected), f"{where}: lengths differ"
        for index, (a, e) in enumerate(zip(actual, expected, strict=True)):
            _assert_same_numbers(a, e, f"{where}[{index}]", tolerance)
    elif isinstance(expected, float) and not isinstance(expected, bool):
        assert isinstance(actual, float | int) and abs(actual - expected) <= max(tolerance * abs(expected), ABSOLUTE_TOLERANCE), (
            f"{where}: {actual!r} vs {expected!r}"
        )
    else:
        assert actual == expected and type(actual) is type(expected), f"{where}: {actual!r} vs {expected!r}"


def _numbers(document: dict) -> dict:
    return {key: value for key, value in document.items() if key != "metadata"}


@pytest.fixture
def runs(settings, tmp_path, monkeypatch, data_manager):
    settings.MEDIA_ROOT = tmp_path / "media"
    monkeypatch.setattr(pipeline, "artifacts_render", _files_only_render)
    _edited_registry(data_manager)
    return {name: _run(parameters) for name, parameters in SCENARIOS.items()}


def test_result_json_and_csvs_match_the_golden_output(runs):
    write = os.environ.get("REPORT_GOLDEN_WRITE") == "1"
    for name, directory in runs.items():
        golden = GOLDEN / name
        document = json.loads((directory / RESULT_JSON).read_text(encoding="utf-8"))
        numbers = _numbers(document)
        if write:
            golden.mkdir(parents=True, exist_ok=True)
            (golden / "numbers.json").write_text(numbers_json(numbers) + "\n", encoding="utf-8")
            for csv in (ADTTE_CSV, ADRESP_CSV):
                (golden / csv).write_bytes((directory / csv).read_bytes())
            continue
        expected = json.loads((golden / "numbers.json").read_text(encoding="utf-8"))
        missing = set(expected) - set(numbers)
        assert not missing, f"{name}: sections of the golden result.json are gone: {sorted(missing)}"
        for section in sorted(expected):
            tolerance = MACHINE_DEPENDENT_SECTIONS.get(section, RELATIVE_TOLERANCE)
            _assert_same_numbers(numbers[section], expected[section], f"{name}: result.json '{section}'", tolerance)
        for csv in (ADTTE_CSV, ADRESP_CSV):
            assert (directory / csv).read_bytes() == (golden / csv).read_bytes(), f"{name}: {csv} differs"
    assert not write, "golden files written; unset REPORT_GOLDEN_WRITE and review the diff"


def test_the_comparison_refuses_a_change_a_computation_would_make():
    """The tolerances admit last-digit noise only: a change in the 9th significant digit, a changed string or
    integer, a new key, a flipped flag of a non-estimable term all fail."""
    term = {"estimable": False, "flags": ["separation"], "hr": 8.2e-09, "n": 10}
    _assert_same_numbers({**term, "hr": 1.08e-08}, term, "term")  # a non-estimable value: compared as a float only
    for actual, expected in (
        (0.123456790, 0.123456789),
        ({"n": 11}, {"n": 10}),
        ({"a": 1.0, "b": 2.0}, {"a": 1.0}),
        ({**term, "flags": []}, term),
        ({**term, "estimable": True}, term),
        ("RFA", "MWA"),
    ):
        with pytest.raises(AssertionError):
            _assert_same_numbers(actual, expected, "x")
    with pytest.raises(AssertionError):
        _assert_same_numbers(0.07811, 0.07810, "mixed", MACHINE_DEPENDENT_SECTIONS["mixed_model"])
    _assert_same_numbers(0.07810067363813626, 0.07810059388316846, "mixed", MACHINE_DEPENDENT_SECTIONS["mixed_model"])
