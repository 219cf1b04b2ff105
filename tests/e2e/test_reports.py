"""An investigator requests a report, watches the progress bar reach 100% and downloads a PDF with pages."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from playwright.sync_api import expect
from pypdf import PdfReader

from analytics import services as analytics_services
from analytics.models import ReportRun, RunStatus
from analytics.tasks import report_run_execute
from tests.analytics.seeded import seeded_registry
from tests.e2e.conftest import log_in, screenshot

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def registry(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    seeded_registry(60)


def test_investigator_requests_report_and_downloads_pdf(page, live_server, investigator, registry, monkeypatch):
    # Hold the run in the queue so the page visibly follows it; the "worker" below is this test.
    monkeypatch.setattr(analytics_services, "report_run_enqueue", lambda run_id: None)
    log_in(page, live_server.url, investigator.username)
    expect(page.get_by_role("heading", name="Outcome reports")).to_be_visible()
    page.get_by_label("Lesion region").uncheck()
    page.get_by_label("Site", exact=True).uncheck()
    page.get_by_role("button", name="Request report").click()

    bar = page.locator("#report-progress")
    expect(bar).to_have_attribute("value", "0")
    run = ReportRun.objects.get()
    assert run.status == RunStatus.QUEUED
    assert report_run_execute.apply(args=[run.pk]).get() == RunStatus.SUCCEEDED  # the worker's job, in process

    expect(bar).to_have_attribute("value", "100", timeout=30_000)  # the poll sees it; the page reloads
    expect(page.locator("#summary")).to_be_visible(timeout=30_000)
    expect(page.locator(".plots img").first).to_be_visible()
    screenshot(page, "report")

    with page.expect_download() as download_info:
        page.get_by_role("link", name="report.pdf").click()
    pdf = PdfReader(io.BytesIO(Path(download_info.value.path()).read_bytes()))
    assert len(pdf.pages) > 1
    assert page.get_by_role("link", name="tables.xlsx").is_visible()
    assert page.get_by_role("link", name="adtte.csv").is_visible()

    page.get_by_role("link", name="← Reports").click()
    expect(page.locator(f'#past-runs tr[data-run="{run.pk}"]')).to_contain_text("Unchanged")
