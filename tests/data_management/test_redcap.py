"""REDCap: dictionary round trip, the real fixtures parse, records export, mapping import (all or nothing)."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from tests.data_management.conftest import REDCAP_FIXTURES
from trials.access import SYSTEM
from trials.interop.forms import FORMS
from trials.interop.redcap import dictionary_csv, dictionary_read, records_csv, records_read, registry_dictionary
from trials.interop.redcap_import import mapping_load, redcap_import
from trials.models import Patient, Visit

pytestmark = pytest.mark.django_db
FIXTURE = REDCAP_FIXTURES / "clinical-trial-1"
MAPPINGS = Path(__file__).parent / "mappings"


def test_dictionary_export_round_trips_through_the_reader():
    exported = registry_dictionary()
    read = dictionary_read(dictionary_csv())
    assert [(f.name, f.form, f.field_type, f.label, f.choices, f.validation) for f in read] == [
        (f.name, f.form, f.field_type, f.label, f.choices, f.validation) for f in exported
    ]
    by_name = {f.name: f for f in read}
    assert read[0].name == "record_id"
    assert by_name["procedure_modality"].choices["cryo"] == "Cryoablation"
    assert by_name["visit_date"].validation == "date_ymd" and by_name["bpi_worst"].validation == "integer"
    assert by_name["ae_serious"].field_type == "yesno"
    assert len({f.name for f in read}) == len(read), "REDCap variable names must be unique"
    assert {f.form for f in read} == {form.name for form in FORMS}


def test_dictionary_header_is_redcaps_own():
    ours = next(csv.reader(io.StringIO(dictionary_csv())))
    theirs = next(csv.reader(io.StringIO((FIXTURE / "dictionary.csv").read_text(encoding="utf-8-sig"))))
    assert ours == theirs


def test_redcap_dictionary_fixture_parses():
    fields = dictionary_read(FIXTURE / "dictionary.csv")
    assert [f.name for f in fields][:3] == ["record_id", "name_last", "name_first"]
    by_name = {f.name: f for f in fields}
    assert by_name["race"].choices["3"] == "Black"
    assert (by_name["dob"].validation, by_name["dob"].minimum, by_name["dob"].identifier) == ("date_ymd", "1900-01-01", True)
    assert by_name["weight"].maximum == "300"


def test_redcap_records_fixture_parses():
    rows = records_read(FIXTURE / "data.csv")
    assert len(rows) == 500
    assert rows[0].number == 1 and rows[0].record_id == "1"
    assert rows[0].values["gender"] == "0" and rows[0].values["demographics_complete"] == "0"


def test_records_export_is_flat_longitudinal(coordinator, patient, month1):
    rows = list(csv.DictReader(io.StringIO(records_csv(SYSTEM))))
    events = [(r["redcap_event_name"], r["redcap_repeat_instrument"]) for r in rows]
    assert ("enrollment_arm_1", "") in events and ("enrollment_arm_1", "lesion") in events
    month = next(r for r in rows if r["redcap_event_name"] == "month1_arm_1")
    assert (month["record_id"], month["visit_date"], month["bpi_worst"]) == (patient.study_id, month1.visit_date.isoformat(), "4")
    assert month["visit_complete"] == "2"


def _fixture_subset(tmp_path, count: int, edits: dict | None = None) -> str:
    """The first ``count`` records of the REDCap fixture, with the registry-only columns a site would add."""
    rows = list(csv.DictReader(io.StringIO((FIXTURE / "data.csv").read_text(encoding="utf-8-sig"))))[:count]
    today = dt.date.today()
    for row in rows:
        row.update(
            consent_date=str(today - dt.timedelta(days=12)),
            enrollment_date=str(today - dt.timedelta(days=10)),
            day0=str(today - dt.timedelta(days=5)),
            bpi_worst_screening="7",
        )
    for (index, column), value in (edits or {}).items():
        rows[index][column] = value
    path = tmp_path / "records.csv"
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return str(path)


def test_mapping_import_creates_the_expected_patients(coordinator, site, tmp_path):
    records = _fixture_subset(tmp_path, 3)
    report = redcap_import(mapping=mapping_load(MAPPINGS / "clinical_trial_1.json"), records=records)
    assert report.committed and report.errors == []
    assert [rid for rid, _ in report.created] == ["1", "2", "3"]
    patients = list(Patient.objects.order_by("study_id"))
    assert [(p.birth_year, p.sex, p.screening_worst_pain) for p in patients] == [(1991, "F", 7), (1931, "F", 7), (1964, "M", 7)]
    assert all(p.lesions.get().bone == "acetabulum" for p in patients)
    assert Visit.objects.filter(patient__in=patients).count() == 3 * 7  # the visit schedule came with enrollment


def _bad_rows_path(tmp_path):
    # row 2: gender code 7 is not in the value map; row 3: screening pain 11 breaks the BPI range
    return _fixture_subset(tmp_path, 3, {(1, "gender"): "7", (2, "bpi_worst_screening"): "11"})


def test_an_import_with_bad_rows_writes_nothing_and_names_row_and_field(coordinator, site, tmp_path):
    report = redcap_import(mapping=mapping_load(MAPPINGS / "clinical_trial_1.json"), records=_bad_rows_path(tmp_path))
    assert not report.committed
    assert Patient.objects.count() == 0  # record 1 was valid, but nothing is written
    located = {(e.row, e.redcap_field) for e in report.errors}
    assert (2, "gender") in located and (3, "bpi_worst_screening") in located
    assert "value '7' is not in the mapping's value map" in str(next(e for e in report.errors if e.row == 2))


def test_dry_run_reports_and_writes_nothing(coordinator, site, tmp_path):
    report = redcap_import(
        mapping=mapping_load(MAPPINGS / "clinical_trial_1.json"), records=_fixture_subset(tmp_path, 2), dry_run=True
    )
    assert report.errors == [] and not report.committed and len(report.created) == 2
    assert Patient.objects.count() == 0


def test_import_of_visits_from_our_own_redcap_export(coordinator, site, patient, month1, tmp_path):
    """A site mirrors the study in REDCap: our records export, mapped back, recreates patient and visit data."""
    (tmp_path / "records.csv").write_text(records_csv(SYSTEM))
    mapping = json.loads((MAPPINGS / "clinical_trial_1.json").read_text())
    mapping["patient"] = {
        "event": "enrollment_arm_1",
        "fields": {
            name: {"from": name}
            for name in (
                "birth_year",
                "sex",
                "histology",
                "ecog",
                "consent_date",
                "enrollment_date",
                "day0",
                "screening_worst_pain",
            )
        },
    }
    mapping["lesion"]["fields"] = {
        "region": {"value": "pelvis"},
        "bone": {"value": "ilium"},
        "lesion_type": {"value": "lytic"},
        "mechanical_or_functional_pain": {"value": True},
    }
    mapping["visits"] = [
        {
            "event": "month1_arm_1",
            "visit_code": "month1",
            "fields": {
                "visit_date": {"from": "visit_date"},
                "opioid_status": {"from": "visit_opioid_status"},
                "pain.worst": {"from": "bpi_worst"},
            },
        }
    ]
    mapping["ignore"] = {"instruments": ["lesion"]}  # the index lesion comes from constants here
    report = redcap_import(mapping=mapping_load(mapping), records=tmp_path / "records.csv")
    assert report.errors == [] and report.visits_recorded == 1
    copy = Patient.objects.get(study_id=report.created[0][1])
    visit = copy.visits.get(visit_code="month1")
    assert (visit.visit_date, visit.pain.worst, visit.opioid_status) == (month1.visit_date, 4, "none")


def test_import_command_dry_run_and_failure(coordinator, site, tmp_path, capsys):
    mapping = str(MAPPINGS / "clinical_trial_1.json")
    call_command("import_redcap", mapping=mapping, records=_fixture_subset(tmp_path, 2), dry_run=True)
    assert "Dry run: 2 record(s) valid" in capsys.readouterr().out
    assert Patient.objects.count() == 0
    with pytest.raises(CommandError, match="nothing was written"):
        call_command("import_redcap", mapping=mapping, records=_bad_rows_path(tmp_path))
    assert "row 2 (record 2), field gender" in capsys.readouterr().err
    call_command("import_redcap", mapping=mapping, records=_fixture_subset(tmp_path, 2))
    assert Patient.objects.count() == 2


def test_export_redcap_command_writes_dictionary_and_records(tmp_path, month1):
    call_command("export_redcap", out=str(tmp_path))
    assert dictionary_read(tmp_path / "dictionary.csv")[0].name == "record_id"
    assert records_read(tmp_path / "records.csv")[0].record_id == month1.patient.study_id
    assert (tmp_path / "events.csv").read_text().count("_arm_1") == 9
