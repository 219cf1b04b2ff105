"""Deployment files (issues 7 §7, 14): the promises of the compose stack, checked statically.

No Docker engine runs on the CI machines, so the compose file is parsed as compose would (YAML with its anchors and
merge keys resolved) and each operator-facing promise is asserted on the result. The web healthcheck script and the
image's gunicorn command line are exercised for real in ``test_web_healthcheck.py``.
"""

import re
import shlex
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DOCKER = ROOT / "docker"
APP_SERVICES = ("migrate", "web", "worker", "beat")
LONG_RUNNING = ("web", "worker", "beat", "postgres", "redis")


@pytest.fixture(scope="module")
def compose():
    return yaml.safe_load((DOCKER / "compose.yaml").read_text())


@pytest.fixture(scope="module")
def services(compose):
    return compose["services"]


def _command(service) -> list[str]:
    command = service.get("command", [])
    return shlex.split(command) if isinstance(command, str) else list(command)


def _mounts(service) -> dict[str, str]:
    """Container path -> volume name of a service's named-volume mounts."""
    return {entry.split(":")[1]: entry.split(":")[0] for entry in service.get("volumes", [])}


def test_compose_has_every_service_with_healthchecks_and_volumes(compose, services):
    assert {"migrate", "web", "worker", "beat", "postgres", "redis"} <= set(services)
    for name in ("web", "worker", "postgres", "redis"):
        assert "healthcheck" in services[name], name
    assert _command(services["worker"])[:4] == ["celery", "-A", "config", "worker"]
    assert "beat" in _command(services["beat"])
    assert {"pgdata", "media", "beat", "backups"} <= set(compose["volumes"])
    # secrets come from the environment (docker/.env), never from the file
    text = (DOCKER / "compose.yaml").read_text()
    assert "${DJANGO_SECRET_KEY:?" in text and "${POSTGRES_PASSWORD:?" in text


def test_long_running_services_restart_and_the_one_shot_migrate_does_not(services):
    for name in LONG_RUNNING:
        assert services[name]["restart"] == "unless-stopped", name
    assert services["migrate"]["restart"] == "no"  # it exits 0 when done; restarting it would loop


def test_web_worker_and_beat_wait_for_a_successful_migration(services):
    migrate = services["migrate"]
    assert _command(migrate) == ["python", "manage.py", "migrate", "--noinput"]
    assert migrate["depends_on"] == {"postgres": {"condition": "service_healthy"}}
    for name in ("web", "worker", "beat"):
        depends = services[name]["depends_on"]
        assert depends["migrate"] == {"condition": "service_completed_successfully"}, name
        assert depends["postgres"] == {"condition": "service_healthy"} and depends["redis"] == {"condition": "service_healthy"}
    # nobody else migrates: the entrypoint only sets the umask and runs the command
    entrypoint = (DOCKER / "entrypoint.sh").read_text()
    assert "migrate" not in entrypoint.split("set -e", 1)[1] and "umask 0027" in entrypoint


def test_environment_reaches_every_application_service(compose, services):
    """The bug: worker and beat redefined `environment:`, and a shallow YAML merge dropped every other variable."""
    shared = compose["x-app-environment"]
    for key in (
        "DJANGO_SECRET_KEY",
        "DATABASE_URL",
        "CELERY_BROKER_URL",
        "DJANGO_ALLOWED_HOSTS",
        "DJANGO_CSRF_TRUSTED_ORIGINS",
        "DJANGO_SECURE_SSL_REDIRECT",
        "DJANGO_SESSION_COOKIE_SECURE",
        "DJANGO_CSRF_COOKIE_SECURE",
        "DJANGO_MEDIA_ROOT",
    ):
        assert key in shared, key
    for name in APP_SERVICES:
        assert services[name]["environment"] == shared, name  # the whole mapping, nothing dropped or overridden
        assert services[name]["env_file"] == [{"path": ".env", "required": False}], name  # any extra variable too
    raw = (DOCKER / "compose.yaml").read_text()
    assert raw.count("environment: *app-environment") == 1 and raw.count("\n    environment:") == 1  # only postgres's own


def test_healthchecks_have_a_start_period_and_probe_what_they_claim(services):
    for name in ("web", "worker", "postgres", "redis"):
        assert re.fullmatch(r"\d+s", services[name]["healthcheck"]["start_period"]), name
    assert services["web"]["healthcheck"]["test"] == ["CMD", "python", "/app/docker/healthcheck.py"]
    worker = _command(services["worker"])
    assert "--hostname=worker@%h" in worker
    ping = services["worker"]["healthcheck"]["test"]
    # its own node ($$ escapes compose interpolation: the container's $HOSTNAME, which %h expands to)
    assert ping[0] == "CMD-SHELL" and "inspect ping --destination worker@$$HOSTNAME" in ping[1]


def test_beat_keeps_its_schedule_on_a_volume(compose, services):
    beat = _command(services["beat"])
    schedule = next(arg.split("=", 1)[1] for arg in beat if arg.startswith("--schedule="))
    mounts = _mounts(services["beat"])
    directory = str(Path(schedule).parent)
    assert directory in mounts and mounts[directory] in compose["volumes"]
    assert "--pidfile=" in beat  # no pid file in the read-only code directory


def test_web_mounts_media_and_backups_and_the_image_lets_the_app_write_only_there(services):
    assert _mounts(services["web"]) == {"/app/media": "media", "/app/backups": "backups"}
    assert _mounts(services["worker"]) == {"/app/media": "media"}
    dockerfile = (DOCKER / "Dockerfile").read_text()
    assert "\nUSER app\n" in dockerfile
    assert "COPY --chown" not in dockerfile  # code stays root-owned
    assert "chown app:app /app/media /app/beat /app/backups" in dockerfile


def test_image_installs_runtime_only_collects_static_and_runs_gunicorn_without_control_socket():
    dockerfile = (DOCKER / "Dockerfile").read_text()
    assert "pip install -r requirements.lock" in dockerfile and "requirements-dev" not in dockerfile
    assert "collectstatic --noinput" in dockerfile
    cmd = re.search(r"^CMD (\[.*\])$", dockerfile, flags=re.MULTILINE).group(1)
    assert yaml.safe_load(cmd)[:2] == ["gunicorn", "config.wsgi:application"] and "--no-control-socket" in cmd


def test_dockerignore_keeps_secrets_history_environments_and_data_out_of_the_image():
    entries = {
        line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines() if line.strip() and not line.startswith("#")
    }
    for must in (
        "docker/.env",
        "**/.env",
        ".git",
        ".venv",
        "media/",
        ".test-media/",
        "db.sqlite3",
        "**/__pycache__",
        "staticfiles/",
    ):
        assert must in entries, must


def test_env_example_lists_every_variable_compose_interpolates():
    text = (DOCKER / "compose.yaml").read_text()
    interpolated = set(re.findall(r"\$\{([A-Z_]+)", text))
    example = (DOCKER / "env.example").read_text()
    documented = set(re.findall(r"^#? ?([A-Z_]+)=", example, flags=re.MULTILINE))
    assert interpolated <= documented, sorted(interpolated - documented)


def test_readme_backup_command_writes_where_the_app_user_may():
    readme = (ROOT / "README.md").read_text()
    backup = next(line for line in readme.splitlines() if "docker/backup.sh" in line and "exec" in line)
    assert "/app/backups/" in backup
