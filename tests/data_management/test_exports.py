"""All registry tables as CSV (and XLSX): scoped to the user, de-identified for sponsors."""

from __future__ import annotations

import csv

import pytest

from trials.interop.exports import tables_csv_write, tables_for

pytestmark = pytest.mark.django_db


def _rows(path):
    with path.open() as handle:
        return list(csv.DictReader(handle))


def test_every_table_is_written_as_csv_for_staff(tmp_path, coordinator, month1):
    written = {p.name for p in tables_csv_write(coordinator, tmp_path)}
    assert {"patients.csv", "visits.csv", "pain-assessments.csv", "medications.csv", "data-queries.csv", "locks.csv"} <= written
    visits = _rows(tmp_path / "visits.csv")
    assert month1.visit_date.isoformat() in {row["visit_date"] for row in visits}


def test_csv_tables_are_scoped(tmp_path, other_coordinator, month1):
    tables_csv_write(other_coordinator, tmp_path)
    assert _rows(tmp_path / "patients.csv") == [] and _rows(tmp_path / "visits.csv") == []


def test_sponsor_tables_have_days_not_dates_and_no_free_text(tmp_path, sponsor, month1):
    assert "data-queries" not in tables_for(sponsor)
    tables_csv_write(sponsor, tmp_path)
    visit = next(row for row in _rows(tmp_path / "visits.csv") if row["visit_code"] == "month1")
    assert "visit_date" not in visit and visit["visit_day"] == "30"
    patient = _rows(tmp_path / "patients.csv")[0]
    assert "birth_year" not in patient and "age" in patient and "enrollment_date" not in patient
    header = next(csv.reader((tmp_path / "medications.csv").open()))
    assert "factor_source" not in header and "mme_table_version" not in header
