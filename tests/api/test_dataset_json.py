"""Issue 13 item 10: CDISC Dataset-JSON v1.1 export, validated against the Dataset-JSON 1.1 JSON schema.

The schema (trials/interop/schemas/dataset-json-1.1.schema.json) is written from the published CDISC model
(cdisc-org/DataExchange-DatasetJson, schema/dataset.yaml, v1.1 release).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from jsonschema import Draft201909Validator

import trials.interop
from trials.interop.dataset_json import dataset_names

pytestmark = pytest.mark.django_db
SCHEMA = json.loads((Path(trials.interop.__file__).parent / "schemas" / "dataset-json-1.1.schema.json").read_text())
VALIDATOR = Draft201909Validator(SCHEMA)


def _get(registry, role: str, name: str, fmt: str = "json"):
    response = registry.client(role).get(f"/api/v1/export/dataset-json/{name}.{fmt}")
    assert response.status_code == 200, (role, name, response.status_code)
    assert response.streaming
    return b"".join(response.streaming_content).decode()


def _errors(document: dict) -> list[str]:
    return [f"{'/'.join(map(str, e.path))}: {e.message}" for e in VALIDATOR.iter_errors(document)]


def test_every_dataset_validates_against_the_dataset_json_11_schema_as_json_and_ndjson(registry):
    assert {"adsl", "adtte", "adresp", "patients", "visits", "adverse-events"} <= set(dataset_names())
    for name in dataset_names():
        document = json.loads(_get(registry, "data_manager", name))
        assert _errors(document) == [], name
        assert document["datasetJSONVersion"] == "1.1.0" and document["studyOID"].startswith("ST.")
        assert document["records"] == len(document["rows"])
        assert all(len(row) == len(document["columns"]) for row in document["rows"])
        lines = _get(registry, "data_manager", name, "ndjson").splitlines()
        meta = json.loads(lines[0])
        assert _errors(meta) == [] and "rows" not in meta
        assert [json.loads(line) for line in lines[1:]] == document["rows"]


def test_the_schema_check_is_not_vacuous():
    assert _errors({"datasetJSONVersion": "1.0", "records": -1}) != []
    good = {
        "datasetJSONCreationDateTime": "2026-01-01T00:00:00",
        "datasetJSONVersion": "1.1.0",
        "itemGroupOID": "IG.X",
        "records": 0,
        "name": "X",
        "label": "x",
        "columns": [{"itemOID": "IT.X.A", "name": "A", "label": "a", "dataType": "integer"}],
        "rows": [],
    }
    assert _errors(good) == []
    assert _errors({**good, "columns": [{"itemOID": "IT.X.A", "name": "A", "label": "a", "dataType": "money"}]}) != []


def test_analysis_sets_hold_the_analysis_values(registry):
    adtte = json.loads(_get(registry, "data_manager", "adtte"))
    names = [c["name"] for c in adtte["columns"]]
    assert {"STUDY_ID", "SRE_DAYS", "SRE_EVENT", "OS_DAYS", "OS_EVENT"} <= set(names)
    rows = {row[names.index("STUDY_ID")]: row for row in adtte["rows"]}
    own = registry.patients["own"]
    # the populated patient has a pathologic fracture on day 40 (an SRE): event 1 at day 40
    assert (rows[own.study_id][names.index("SRE_DAYS")], rows[own.study_id][names.index("SRE_EVENT")]) == (40, 1)
    adsl = json.loads(_get(registry, "data_manager", "adsl"))
    assert adsl["records"] == 2  # treated patients only (the exited ones had no procedure)


def test_sponsors_get_deidentified_data_sets_and_sites_see_their_own(registry):
    for name in ("adsl", "patients", "adverse-events", "visits"):
        document = json.loads(_get(registry, "sponsor", name))
        assert _errors(document) == []
        types = {c["name"]: c["dataType"] for c in document["columns"]}
        assert "date" not in types.values() and "datetime" not in types.values(), name
        assert not {"TERM", "BIRTH_YEAR", "DAY0", "ENROLLMENT_DATE", "CONSENT_DATE"} & set(types), name
    patients = json.loads(_get(registry, "other_coordinator", "patients"))
    study_ids = {row[[c["name"] for c in patients["columns"]].index("STUDY_ID")] for row in patients["rows"]}
    assert study_ids and all(s.startswith("BOS-") for s in study_ids)


def test_unknown_dataset_is_404(registry):
    assert registry.client("data_manager").get("/api/v1/export/dataset-json/dm.json").status_code == 404
    assert registry.client("data_manager").get("/api/v1/export/dataset-json/adsl.xml").status_code == 404
