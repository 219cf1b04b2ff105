"""Renderers: canonical result.json, CSV contract columns, one XLSX sheet per table, non-blank plots."""

from __future__ import annotations

import json

import numpy as np
import openpyxl
import pandas as pd
import pytest
from PIL import Image

from analytics.compute import numbers_compute
from analytics.dataset import snapshot_extract, snapshot_fingerprint
from analytics.derive import analysis_sets_build
from analytics.parameters import parameters_parse
from analytics.render import artifacts_render
from analytics.render.files import numbers_json, result_document, result_numbers
from analytics.render.plots import FIGURES
from analytics.render.tables import TABLES
from tests.analytics.seeded import seeded_registry


@pytest.fixture
def rendered(db, tmp_path):
    seeded_registry(60)
    params = parameters_parse({"strata": ["modality", "region"]})
    snapshot = snapshot_extract()
    sets = analysis_sets_build(snapshot, params)
    numbers = numbers_compute(sets, params, fingerprint=snapshot_fingerprint(snapshot))
    names = artifacts_render(tmp_path, numbers=numbers, sets=sets, metadata={"generated_at": "2026-07-01T02:30:00+00:00",
                                                                             "code_version": "test", "run_id": 1})
    return tmp_path, numbers, names, sets


def test_numbers_json_is_canonical_and_free_of_metadata():
    numbers = {"b": 1.5, "a": {"z": None, "y": [1, 2]}}
    assert numbers_json(numbers) == numbers_json(json.loads(json.dumps(numbers)))
    assert numbers_json(numbers).index('"a"') < numbers_json(numbers).index('"b"')
    document = result_document(numbers, {"generated_at": "2026-07-01T00:00:00Z"})
    assert result_numbers(document) == numbers
    assert document["metadata"]["generated_at"] == "2026-07-01T00:00:00Z"
    assert len(document["metadata"]["numbers_sha256"]) == 64


def test_result_json_numbers_contain_no_generation_time(rendered):
    directory, numbers, _, _ = rendered
    document = json.loads((directory / "result.json").read_text())
    assert "2026-07-01T02:30" not in numbers_json(result_numbers(document))
    assert result_numbers(document) == json.loads(numbers_json(numbers))


def test_csvs_have_exactly_the_contract_columns(rendered):
    directory, numbers, _, _ = rendered
    adtte = pd.read_csv(directory / "adtte.csv")
    assert list(adtte.columns) == ["study_id", "site", "modality", "augmentation", "radiation_sequence", "region",
                                   "sre_days", "sre_event", "os_days", "os_event"]
    assert len(adtte) == numbers["n_patients"] and set(adtte["sre_event"]) <= {0, 1, 2}
    adresp = pd.read_csv(directory / "adresp.csv")
    assert list(adresp.columns) == ["study_id", "visit", "worst_pain_baseline", "worst_pain", "omed_baseline", "omed", "response"]
    assert set(adresp["response"]) <= {"CR", "PR", "PD", "indeterminate", "not_evaluable"}
    assert not adresp.duplicated(["study_id", "visit"]).any()


def test_xlsx_has_one_sheet_per_table(rendered):
    directory, _, _, _ = rendered
    book = openpyxl.load_workbook(directory / "tables.xlsx", read_only=True)
    assert book.sheetnames == list(TABLES)
    assert book["pain_response"].max_row > 6


def test_every_plot_is_a_non_blank_png(rendered):
    directory, _, names, _ = rendered
    assert set(FIGURES) <= set(names)
    for name in FIGURES:
        pixels = np.asarray(Image.open(directory / name).convert("L"), dtype=float)
        assert pixels.shape[0] > 300 and pixels.std() > 10, name


def test_re_rendering_replaces_the_same_files_without_leftovers(rendered):
    directory, numbers, names, sets = rendered
    before = {name: (directory / name).read_bytes() for name in ("adtte.csv", "adresp.csv")}
    again = artifacts_render(directory, numbers=numbers, sets=sets, metadata={"generated_at": "later", "run_id": 1})
    assert again == names
    assert sorted(p.name for p in directory.iterdir()) == sorted(names)  # no temporary files left behind
    assert {name: (directory / name).read_bytes() for name in before} == before
