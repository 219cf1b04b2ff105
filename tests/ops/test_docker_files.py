"""Deployment files (issue 7 §7): no Docker engine runs here, so their promises are checked statically."""

from pathlib import Path

import yaml

DOCKER = Path(__file__).resolve().parents[2] / "docker"


def test_compose_has_every_service_with_healthchecks_and_volumes():
    compose = yaml.safe_load((DOCKER / "compose.yaml").read_text())
    services = compose["services"]
    assert {"web", "worker", "beat", "postgres", "redis"} <= set(services)
    for name in ("web", "worker", "postgres", "redis"):
        assert "healthcheck" in services[name], name
    assert services["worker"]["command"][:3] == ["celery", "-A", "config"]
    assert "beat" in services["beat"]["command"]
    assert {"pgdata", "media"} <= set(compose["volumes"])
    # secrets come from the environment, never from the file
    text = (DOCKER / "compose.yaml").read_text()
    assert "${DJANGO_SECRET_KEY:?" in text and "${POSTGRES_PASSWORD:?" in text


def test_image_runs_gunicorn_as_non_root_and_migrates_on_start():
    dockerfile = (DOCKER / "Dockerfile").read_text()
    assert "\nUSER app\n" in dockerfile
    assert "gunicorn" in dockerfile and "requirements.lock" in dockerfile
    entrypoint = (DOCKER / "entrypoint.sh").read_text()
    assert "migrate --noinput" in entrypoint and "collectstatic --noinput" in entrypoint
