"""Reports page: request → progress JSON → summary, downloads, past runs with 'data changed since'."""

from __future__ import annotations

import io
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from lxml import html
from pypdf import PdfReader

from analytics.models import ReportRun, RunStatus
from analytics.web.selectors import report_summary
from tests.analytics.seeded import seeded_registry
from trials import services
from trials.models import PainAssessment

pytestmark = pytest.mark.django_db


@pytest.fixture
def registry(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.CELERY_TASK_ALWAYS_EAGER = True
    seeded_registry(60)


@pytest.fixture
def investigator_client(client, investigator, django_capture_on_commit_callbacks):
    client.force_login(investigator)
    client.capture_on_commit = django_capture_on_commit_callbacks
    return client


def _request(client, **extra):
    """POST a request; the run is enqueued on commit, and runs eagerly (CELERY_TASK_ALWAYS_EAGER)."""
    with client.capture_on_commit(execute=True):
        return client.post(reverse("reports"), {"strata": ["modality", "augmentation"], **extra})


def test_request_runs_the_report_and_shows_summary_plots_and_downloads(investigator_client, registry):
    response = _request(investigator_client)
    run = ReportRun.objects.get()
    assert response["Location"] == reverse("report_detail", kwargs={"run_id": run.pk})
    assert run.parameters["strata"] == ["modality", "augmentation"]
    status = investigator_client.get(reverse("report_status", kwargs={"run_id": run.pk})).json()
    assert status == {**status, "status": RunStatus.SUCCEEDED, "progress": 100, "finished": True}

    with CaptureQueriesContext(connection) as ctx:
        page = investigator_client.get(response["Location"])
    tree = html.fromstring(page.content)
    assert tree.xpath('//progress[@id="report-progress"]/@value') == ["100"]
    run.refresh_from_db()
    assert f"{run.result['n_patients']} patients" in tree.xpath('//section[@id="summary"]')[0].text_content()
    # The summary is cut out of result.json by the database: the same as computed from the whole result, which
    # the page never selects (2.8 MB at 100,000 patients).
    assert page.context["summary"] == report_summary(run.result) and page.context["summary"]["response"]
    whole_result = re.compile(r'"analytics_reportrun"\."result"(?!\s*(->|#>|,\s*\'\$))')  # not: a key taken out of it
    assert not any(whole_result.search(q["sql"]) for q in ctx.captured_queries)
    links = tree.xpath('//ul[@id="downloads"]//a/text()')
    assert links[0] == "report.pdf" and "tables.xlsx" in links and "adtte.csv" in links
    plots = tree.xpath('//div[@class="plots"]//img/@src')
    assert any(src.endswith("overall_survival.png") for src in plots)
    assert investigator_client.get(plots[0])["Content-Type"] == "image/png"

    pdf = investigator_client.get(reverse("report_artifact", kwargs={"run_id": run.pk, "name": "report.pdf"}))
    assert pdf["Content-Disposition"].startswith("attachment")
    assert len(PdfReader(io.BytesIO(b"".join(pdf.streaming_content))).pages) > 1


def test_unknown_artifact_is_404(investigator_client, registry):
    _request(investigator_client)
    run = ReportRun.objects.get()
    assert investigator_client.get(reverse("report_artifact", kwargs={"run_id": run.pk, "name": "manage.py"})).status_code == 404
    assert investigator_client.get(f"/reports/{run.pk}/files/..%2F..%2Fmanage.py").status_code == 404


def test_past_runs_say_whether_the_data_changed_since(investigator_client, registry, data_manager):
    _request(investigator_client)
    run = ReportRun.objects.get()

    def row():
        page = html.fromstring(investigator_client.get(reverse("reports")).content)
        return page.xpath(f'//tr[@data-run="{run.pk}"]')[0].text_content()

    assert "Unchanged" in row()
    assert run.fingerprint[:10] in row()
    pain = PainAssessment.objects.filter(worst__lt=10).select_related("visit").first()
    services.clinical_record_update(
        actor=data_manager, instance=pain, changes={"worst": pain.worst + 1}, reason="Source verification"
    )
    assert "Data changed" in row()


def test_same_request_on_unchanged_data_reuses_the_run(investigator_client, registry):
    _request(investigator_client)
    response = _request(investigator_client)
    assert ReportRun.objects.count() == 1
    assert response["Location"].endswith(f"/reports/{ReportRun.objects.get().pk}/")


def test_coordinators_cannot_open_reports(coordinator_client):
    assert coordinator_client.get(reverse("reports")).status_code == 403
