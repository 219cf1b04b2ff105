"""Deployment promises: production settings pass Django's deploy checks; health probe; secrets required."""

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

ROOT = Path(__file__).resolve().parents[2]


def _manage(*args, env_extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith("DJANGO_")}
    env.update(env_extra)
    return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


def test_production_check_deploy_is_clean():
    result = _manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        env_extra={
            "DJANGO_SETTINGS_MODULE": "config.settings.production",
            "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
            "PRO_CONTACT_KEY": Fernet.generate_key().decode(),
            "DATABASE_URL": "postgres://registry@127.0.0.1:5432/registry",
            "DJANGO_ALLOWED_HOSTS": "registry.example.org",
        },
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_production_refuses_to_boot_without_secret_key():
    result = _manage(
        "check",
        env_extra={
            "DJANGO_SETTINGS_MODULE": "config.settings.production",
            "DATABASE_URL": "sqlite:///x.db",
            "DJANGO_ALLOWED_HOSTS": "x",
        },
    )
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY" in result.stderr


def test_production_refuses_to_boot_without_contact_key():
    """Patient e-mail addresses are encrypted at rest (docs/pro.md): no key, no start; the dev-only key is refused."""
    base = {
        "DJANGO_SETTINGS_MODULE": "config.settings.production",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "DATABASE_URL": "sqlite:///x.db",
        "DJANGO_ALLOWED_HOSTS": "x",
    }
    missing = _manage("check", env_extra=base)
    assert missing.returncode != 0 and "PRO_CONTACT_KEY" in missing.stderr
    from pro.crypto import DEV_ONLY_KEY

    dev_key = _manage("check", env_extra={**base, "PRO_CONTACT_KEY": DEV_ONLY_KEY})
    assert dev_key.returncode != 0 and "development-only key" in dev_key.stderr


@pytest.mark.django_db
def test_healthz(client):
    response = client.get("/healthz")
    assert response.status_code == 200 and response.json() == {"status": "ok"}


def test_no_secrets_committed():
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True).stdout.split()
    assert not [f for f in tracked if f.endswith((".env", ".pem", ".key")) or f == "db.sqlite3"]


@pytest.mark.django_db
def test_security_headers_and_local_api_docs(client):
    response = client.get("/login/")
    assert "frame-ancestors 'none'" in response["Content-Security-Policy"]
    assert "camera=()" in response["Permissions-Policy"]
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    docs = client.get("/api/v1/docs/").content.decode()
    assert "cdn.jsdelivr" not in docs and "swagger-ui" in docs  # assets served from this site, no CDN


def test_production_checks_database_connections_before_reusing_them(production_settings):
    database = production_settings["DATABASES"]["default"]
    assert database["ENGINE"] == "django.db.backends.postgresql"
    assert database["CONN_MAX_AGE"] > 0 and database["CONN_HEALTH_CHECKS"] is True


@pytest.mark.django_db
def test_healthz_says_only_unavailable_when_the_database_fails(client, monkeypatch, caplog):
    from django.db import OperationalError, connection

    def refused(*args, **kwargs):
        raise OperationalError('connection to server at "db.internal" (10.0.0.7), port 5432 failed: Connection refused')

    monkeypatch.setattr(connection, "cursor", refused)
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json() == {"status": "unavailable"}  # no error text, host or port for anonymous callers
    assert "no-store" in response["Cache-Control"]
    assert "db.internal" in caplog.text  # ... the operator finds it in the log


def test_secure_cookies_by_default_relaxable_only_by_explicit_environment(production_settings):
    from tests.production_settings import production_settings_dump

    assert production_settings["SESSION_COOKIE_SECURE"] is True and production_settings["CSRF_COOKIE_SECURE"] is True
    assert production_settings["SECURE_SSL_REDIRECT"] is True
    evaluation = production_settings_dump(
        DJANGO_SESSION_COOKIE_SECURE="False",
        DJANGO_CSRF_COOKIE_SECURE="False",
        DJANGO_SECURE_SSL_REDIRECT="False",
        DJANGO_CSRF_TRUSTED_ORIGINS="https://registry.example.org,https://registry.example.org:8443",
    )
    assert (evaluation["SESSION_COOKIE_SECURE"], evaluation["CSRF_COOKIE_SECURE"], evaluation["SECURE_SSL_REDIRECT"]) == (
        False,
        False,
        False,
    )
    assert evaluation["CSRF_TRUSTED_ORIGINS"] == ["https://registry.example.org", "https://registry.example.org:8443"]


def test_uploads_and_report_artifacts_are_group_readable_not_private_to_the_writer(production_settings, tmp_path):
    import stat

    from analytics.render.files import atomic_write

    assert (production_settings["FILE_UPLOAD_PERMISSIONS"], production_settings["FILE_UPLOAD_DIRECTORY_PERMISSIONS"]) == (
        0o640,
        0o750,
    )
    entrypoint = (ROOT / "docker" / "entrypoint.sh").read_text()
    assert "umask 0027" in entrypoint  # the image's processes write 0640 files
    previous = os.umask(0o027)
    try:
        name = atomic_write(tmp_path / "result.json", lambda path: path.write_text("{}"))
    finally:
        os.umask(previous)
    assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o640  # mkstemp alone leaves 0600
