"""Headers under production settings (issue 14): a CSP with no inline scripts, and ``Cache-Control: no-store``
on every page, API answer, export and report artifact (they may hold patient data); static assets stay cacheable."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.test import Client, override_settings

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parents[2]
HEADER_SETTINGS = (
    "CONTENT_SECURITY_POLICY",
    "PERMISSIONS_POLICY",
    "MIDDLEWARE",
    "SECURE_CONTENT_TYPE_NOSNIFF",
    "X_FRAME_OPTIONS",
)


@pytest.fixture
def production_headers(production_settings):
    """This process answers with the header settings and middleware production builds."""
    with override_settings(**{name: production_settings[name] for name in HEADER_SETTINGS}):
        yield production_settings


def _directives(policy: str) -> dict[str, list[str]]:
    return {part.split()[0]: part.split()[1:] for part in (p.strip() for p in policy.split(";")) if part}


def _no_store(response) -> bool:
    return "no-store" in response.get("Cache-Control", "")


def test_production_csp_allows_scripts_from_this_site_only(production_headers):
    directives = _directives(production_headers["CONTENT_SECURITY_POLICY"])
    assert directives["script-src"] == ["'self'"]  # no 'unsafe-inline', no 'unsafe-eval', no other host
    assert directives["object-src"] == ["'none'"] and directives["frame-ancestors"] == ["'none'"]


def test_no_template_has_an_inline_script_or_event_handler():
    """With script-src 'self' an inline script would silently not run: every script is a static file."""
    offenders = []
    for template in ROOT.glob("*/templates/**/*.html"):
        text = template.read_text()
        for tag in re.findall(r"<script\b[^>]*>", text, flags=re.IGNORECASE):
            if "src=" not in tag and 'type="application/json"' not in tag:
                offenders.append(f"{template.relative_to(ROOT)}: {tag}")
        offenders += [f"{template.relative_to(ROOT)}: {m}" for m in re.findall(r"\son[a-z]+\s*=", text)]
        offenders += [f"{template.relative_to(ROOT)}: javascript: URL" for _ in re.findall(r"javascript:", text, flags=re.I)]
    assert not offenders, offenders


def test_api_docs_load_their_start_up_script_as_a_file(production_headers):
    page = Client().get("/api/v1/docs/")
    html = page.content.decode()
    assert page.status_code == 200 and "'unsafe-inline'" not in _directives(page["Content-Security-Policy"])["script-src"]
    tags = re.findall(r"<script\b[^>]*>", html)
    assert tags and all("src=" in tag for tag in tags), tags
    script_url = re.search(r'<script src="([^"]*script=[^"]*)"', html).group(1).replace("&amp;", "&")
    script = Client().get(script_url)
    assert script.status_code == 200 and script["Content-Type"].startswith("application/javascript")
    assert "SwaggerUIBundle" in script.content.decode()


def test_logged_in_pages_api_answers_exports_and_artifacts_are_not_stored(production_headers, registry, report_run):
    study_id = registry.patients["own"].study_id
    pages = {
        "coordinator": ["/worklist/", "/patients/", f"/patients/{study_id}/", f"/patients/{study_id}/visits/month1/"],
        "investigator": ["/reports/", f"/reports/{report_run.pk}/", f"/reports/{report_run.pk}/files/adtte.csv"],
    }
    for role, urls in pages.items():
        web = Client()
        web.force_login(registry.users[role])
        for url in urls:
            response = web.get(url)
            assert response.status_code == 200, (role, url, response.status_code)
            assert _no_store(response), (url, response.get("Cache-Control"))
            assert "'unsafe-inline'" not in _directives(response["Content-Security-Policy"])["script-src"]
    api = registry.client("investigator")
    for url in (
        "/api/v1/patients/",
        "/api/v1/export/patients.csv",
        f"/api/v1/reports/{report_run.pk}/",
        f"/api/v1/reports/{report_run.pk}/artifacts/adtte.csv",
    ):
        response = api.get(url)
        assert response.status_code == 200, (url, response.status_code)
        assert _no_store(response), (url, response.get("Cache-Control"))
    refused = registry.client("anonymous").get("/api/v1/patients/")
    assert refused.status_code in (401, 403) and _no_store(refused)  # errors too: they may echo record data


def test_static_assets_stay_cacheable(production_headers):
    with override_settings(WHITENOISE_USE_FINDERS=True, WHITENOISE_AUTOREFRESH=True):  # serve from the apps, no collectstatic
        response = Client().get("/static/trials/visit-form.js")
    assert response.status_code == 200 and not _no_store(response), response.get("Cache-Control")
