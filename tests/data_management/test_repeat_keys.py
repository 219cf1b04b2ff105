"""Issue 13 item 8: each repeating record keeps its instance number for life; REDCap and ODM use it."""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest
from django.core.management import call_command

from tests.factories import visit_data
from trials import services
from trials.access import SYSTEM
from trials.interop.odm import ODM_NS, odm_build, odm_validate
from trials.interop.redcap import records_csv, repeating_instruments_csv

pytestmark = pytest.mark.django_db


def _ae(coordinator, patient, term: str, day: int):
    return services.adverse_event_report(
        actor=coordinator,
        patient=patient,
        data={
            "term": term,
            "onset_date": patient.day0 + dt.timedelta(days=day),
            "sir_grade": "mild",
            "ctcae_grade": 1,
            "relatedness": "procedure",
            "serious": False,
            "outcome": "recovered",
        },
    )


def _redcap_instances(instrument: str) -> dict[str, str]:
    rows = csv.DictReader(io.StringIO(records_csv(SYSTEM)))
    return {r["ae_term"]: r["redcap_repeat_instance"] for r in rows if r["redcap_repeat_instrument"] == instrument}


def _odm_keys() -> dict[str, str]:
    tree = odm_build(SYSTEM)
    assert odm_validate(tree) == []
    keys = {}
    for group in tree.getroot().iter(f"{{{ODM_NS}}}ItemGroupData"):
        if group.get("ItemGroupOID") == "IG.ADVERSE_EVENT":
            term = next(i.get("Value") for i in group.iter(f"{{{ODM_NS}}}ItemData") if i.get("ItemOID").endswith(".TERM"))
            keys[term] = group.get("ItemGroupRepeatKey")
    return keys


def test_void_leaves_a_gap_and_a_back_dated_entry_takes_the_next_number(coordinator, patient):
    first, second = _ae(coordinator, patient, "Burn", 5), _ae(coordinator, patient, "Fever", 10)
    assert (first.repeat_instance, second.repeat_instance) == (1, 2)
    services.clinical_record_void(actor=coordinator, instance=first, reason="Entered on the wrong patient")
    back_dated = _ae(coordinator, patient, "Nerve injury", 1)  # onset before both others
    assert back_dated.repeat_instance == 3
    assert _redcap_instances("adverse_event") == {"Fever": "2", "Nerve injury": "3"}
    assert _odm_keys() == {"Fever": "2", "Nerve injury": "3"}
    services.clinical_record_update(actor=coordinator, instance=second, changes={"outcome": "recovering"}, reason="SDV")
    second.refresh_from_db()
    assert second.repeat_instance == 2  # an update keeps the number


def test_opioid_rows_are_numbered_within_their_visit(coordinator, patient):
    visit = patient.visits.get(visit_code="month1")
    meds = [
        {"drug": "oxycodone", "route": "oral", "dose": "10", "unit": "mg", "doses_per_day": "2"},
        {"drug": "morphine", "route": "oral", "dose": "15", "unit": "mg", "doses_per_day": "3"},
    ]
    services.visit_record(actor=coordinator, visit=visit, data=visit_data(patient.day0 + dt.timedelta(days=30), meds=meds))
    assert sorted(visit.medications.values_list("repeat_instance", flat=True)) == [1, 2]
    assert patient.lesions.get().repeat_instance == 1


def test_repeating_instruments_declaration_lists_every_repeating_form(tmp_path):
    rows = list(csv.DictReader(io.StringIO(repeating_instruments_csv())))
    pairs = {(r["event_name"], r["form_name"]) for r in rows}
    assert ("enrollment_arm_1", "lesion") in pairs and ("enrollment_arm_1", "radiation") in pairs
    assert ("ongoing_arm_1", "adverse_event") in pairs and ("month1_arm_1", "opioid") in pairs
    assert ("enrollment_arm_1", "registration") not in pairs
    call_command("export_redcap", out=str(tmp_path))
    assert (tmp_path / "repeating_instruments.csv").read_text() == repeating_instruments_csv()


def test_migration_numbers_existing_records_in_entry_order(coordinator, patient):
    from importlib import import_module

    from django.apps import apps

    first, second = _ae(coordinator, patient, "Burn", 5), _ae(coordinator, patient, "Fever", 2)
    type(first).objects.update(repeat_instance=None)
    import_module("trials.migrations.0006_repeat_instance_source_record_id").number_existing(apps, None)
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.repeat_instance, second.repeat_instance) == (1, 2)
