"""Issue 13 item 5: data managers import from the web — upload, dry-run report, confirm; run and report kept, audited."""

from __future__ import annotations

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from tests.data_management.test_redcap_accountable import HEADER, enrollment_row, mapping, month1_row, write
from trials.models import ImportRun, ImportStatus, Patient

pytestmark = pytest.mark.django_db


def _upload(client, tmp_path, rows, raw_mapping=None, date_format="YMD"):
    records = write(tmp_path, rows, HEADER).read_bytes()
    mapping_json = json.dumps(raw_mapping or mapping(imported_by="dm")).encode()
    return client.post(
        "/data-management/imports/",
        {
            "records": SimpleUploadedFile("site-export.csv", records, content_type="text/csv"),
            "mapping": SimpleUploadedFile("mapping.json", mapping_json, content_type="application/json"),
            "date_format": date_format,
        },
        follow=True,
    )


def test_upload_shows_the_dry_run_report_then_confirm_imports_and_keeps_the_audited_run(client, data_manager, site, tmp_path):
    client.force_login(data_manager)
    page = _upload(client, tmp_path, [enrollment_row(), month1_row()])
    body = page.content.decode()
    assert page.status_code == 200 and "Dry-run report" in body and "2 imported" in body
    run = ImportRun.objects.get()
    assert run.status == ImportStatus.CHECKED and Patient.objects.count() == 0  # nothing written yet
    page = client.post(f"/data-management/imports/{run.pk}/", {"confirm": "yes"}, follow=True)
    assert "Report of the import" in page.content.decode()
    run.refresh_from_db()
    assert run.status == ImportStatus.IMPORTED and run.records_text == "" and run.imported_by == data_manager
    patient = Patient.objects.get()
    assert patient.source_record_id == "101" and patient.created_by == data_manager
    reasons = list(run.history.order_by("history_date").values_list("history_change_reason", "history_user__username"))
    assert reasons[0][0].startswith("Dry run: 2 row(s) read") and reasons[-1][0].startswith("Imported: 2 row(s) read")
    assert {user for _, user in reasons} == {"dm"}
    # a checked run cannot be run twice
    client.post(f"/data-management/imports/{run.pk}/", {"confirm": "yes"})
    assert Patient.objects.count() == 1


def test_a_failing_file_is_refused_with_every_row_named_and_cannot_be_confirmed(client, data_manager, site, tmp_path):
    client.force_login(data_manager)
    page = _upload(client, tmp_path, [enrollment_row(), month1_row(visit_date="9/9/2026")])
    body = page.content.decode()
    assert "row 2 (record 101), field visit_date" in body and "import-confirm" not in body
    run = ImportRun.objects.get()
    assert run.status == ImportStatus.REFUSED and run.records_text == ""
    client.post(f"/data-management/imports/{run.pk}/", {"confirm": "yes"})
    assert Patient.objects.count() == 0


def test_a_bad_mapping_is_a_form_error_and_keeps_nothing(client, data_manager, site, tmp_path):
    client.force_login(data_manager)
    raw = mapping(imported_by="dm", visits=[{"event": "month1_arm_1", "visit_code": "monht1", "fields": {}}])
    page = _upload(client, tmp_path, [enrollment_row()], raw)
    assert "visits[0].visit_code" in page.content.decode() and not ImportRun.objects.exists()


def test_only_data_managers_import(client, coordinator, site, tmp_path):
    client.force_login(coordinator)
    assert client.get("/data-management/imports/").status_code == 403
