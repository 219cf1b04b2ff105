"""A visit recorded as not done carries its reason through every layer declared in trials.crf: the visits CSV,
the REDCap records export and re-import, and the ODM export; sponsors never see it (free text)."""

from __future__ import annotations

import csv
import io

import pytest
from django.db import transaction

from tests.api.conftest import populate_patient
from trials import services
from trials.access import SYSTEM
from trials.interop.exports import tables_csv_write
from trials.interop.odm import odm_build, odm_validate
from trials.interop.redcap import records_csv
from trials.interop.redcap_import import mapping_load, redcap_import, registry_mapping
from trials.models import Patient

pytestmark = pytest.mark.django_db

ODM = "{http://www.cdisc.org/ns/odm/v1.3}"
REASON = "Admitted to St Mary's for pneumonia"


def _not_done(actor, patient, code: str = "month3"):
    visit = patient.visits.get(visit_code=code)
    services.visit_record(actor=actor, visit=visit, data=services.VisitData(None, not_done_reason=REASON))
    return visit


def _rows(path):
    with path.open() as handle:
        return list(csv.DictReader(handle))


def test_not_done_reason_reaches_the_exports_and_round_trips_through_redcap(tmp_path, coordinator, site, today):
    with transaction.atomic():  # the source registry exists only until its exports are taken
        patient = populate_patient(coordinator, site, today)
        _not_done(coordinator, patient)
        tables_csv_write(coordinator, tmp_path)
        tree = odm_build(SYSTEM)
        exported = records_csv(SYSTEM)
        transaction.set_rollback(True)
    visits = {row["visit_code"]: row for row in _rows(tmp_path / "visits.csv")}
    assert (visits["month3"]["not_done_reason"], visits["month3"]["visit_date"]) == (REASON, "")
    assert visits["month1"]["not_done_reason"] == ""
    assert odm_validate(tree) == []
    reasons = {
        (e.get("StudyEventOID"), i.get("Value"))
        for e in tree.getroot().iter(f"{ODM}StudyEventData")
        for i in e.iter(f"{ODM}ItemData")
        if i.get("ItemOID") == "I.VISIT.NOT_DONE_REASON"
    }
    assert reasons == {("SE.MONTH3", REASON)}
    (row,) = [
        r
        for r in csv.DictReader(io.StringIO(exported))
        if r["redcap_event_name"] == "month3_arm_1" and not r["redcap_repeat_instrument"]
    ]
    assert (row["visit_not_done_reason"], row["visit_date"], row["bpi_worst"]) == (REASON, "", "")

    assert Patient.objects.count() == 0
    report = redcap_import(
        mapping=mapping_load(registry_mapping(imported_by="coord")), records=exported, source_name="records.csv"
    )
    assert report.errors == [] and report.committed, [str(e) for e in report.errors][:5]
    visit = Patient.objects.get().visits.get(visit_code="month3")
    assert (visit.not_done_reason, visit.visit_date, visit.has_data) == (REASON, None, False)
    again = redcap_import(
        mapping=mapping_load(registry_mapping(imported_by="coord")), records=exported, source_name="records.csv"
    )
    assert again.committed and {o.status for o in again.rows} <= {"unchanged", "no data"}


def test_sponsor_never_sees_the_not_done_reason(tmp_path, coordinator, sponsor, month1):
    _not_done(coordinator, month1.patient)
    tables_csv_write(sponsor, tmp_path)
    header = next(csv.reader((tmp_path / "visits.csv").open()))
    assert "not_done_reason" not in header and "visit_day" in header
    assert REASON not in (tmp_path / "visits.csv").read_text()
    tables_csv_write(coordinator, tmp_path / "staff")  # the same table for staff does carry it
    assert REASON in (tmp_path / "staff" / "visits.csv").read_text()
