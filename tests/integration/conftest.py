"""Integration tier: real PostgreSQL, Redis and a Celery worker subprocess.

The worker runs the project's own command line (``celery -A config worker``)
with the environment of the test process, except that ``DATABASE_URL`` names
the test database pytest-django created and tasks are not eager. It consumes a
queue private to this test session, so other workers on the same Redis never
take its tasks (and it never takes theirs).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from urllib.parse import quote

import pytest
from django.conf import settings
from django.db import connection

from config.celery_app import app as celery_app
from tests.conftest import require_service

WORKER_START_TIMEOUT = 60


def redis_available(url: str) -> bool:
    if not url.startswith("redis://"):
        return False
    try:
        import redis

        return bool(redis.Redis.from_url(url, socket_connect_timeout=2).ping())
    except Exception:  # noqa: BLE001 - any failure means "not available"
        return False


@pytest.fixture
def postgres_and_redis():
    require_service(
        connection.vendor == "postgresql", "needs PostgreSQL: set DATABASE_URL=postgres://postgres@127.0.0.1:5432/registry"
    )
    broker = settings.CELERY_BROKER_URL or ""
    require_service(redis_available(broker), "needs Redis: set CELERY_BROKER_URL=redis://127.0.0.1:6379/0")
    return broker


def test_database_url() -> str:
    """DATABASE_URL of the database this test process uses (pytest-django's ``test_<name>``)."""
    db = connection.settings_dict
    user = quote(db.get("USER") or "")
    password = f":{quote(db['PASSWORD'])}" if db.get("PASSWORD") else ""
    host = db.get("HOST") or "127.0.0.1"
    port = db.get("PORT") or "5432"
    return f"postgres://{user}{password}@{host}:{port}/{db['NAME']}"


test_database_url.__test__ = False  # a helper, not a test


def _process_env(broker: str, extra_env: dict[str, str]) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": test_database_url(),
        "CELERY_BROKER_URL": broker,
        "CELERY_TASK_ALWAYS_EAGER": "false",
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        **extra_env,
    }


def start_worker(
    broker: str, queue: str, log: Path, *, pool: str = "solo", own_process_group: bool = False, **extra_env: str
) -> subprocess.Popen:
    """Start ``celery -A config worker`` on ``queue`` against the test database; wait until ready.

    ``pool="prefork"`` runs one pool child under the main process (as in production);
    ``own_process_group`` puts the worker in a new session, so the test can kill the
    whole worker (main process and children) with ``os.killpg``.
    """
    celery = Path(sys.executable).with_name("celery")
    pool_args = ["--pool=solo"] if pool == "solo" else [f"--pool={pool}", "--concurrency=1"]
    with log.open("a") as out:
        process = subprocess.Popen(  # noqa: S603 - fixed argv
            [
                str(celery),
                "-A",
                "config",
                "worker",
                *pool_args,
                "-l",
                "info",
                "-Q",
                queue,
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
                "-n",
                f"{queue}-{uuid.uuid4().hex[:4]}@%h",
            ],
            cwd=settings.BASE_DIR,
            env=_process_env(broker, extra_env),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=own_process_group,
        )
    _wait_ready(process, log, " ready.")
    return process


def start_beat(broker: str, log: Path, schedule: Path, **extra_env: str) -> subprocess.Popen:
    """Start ``celery -A config beat`` (the project's schedule) against the test database; wait until it runs."""
    celery = Path(sys.executable).with_name("celery")
    with log.open("a") as out:
        process = subprocess.Popen(  # noqa: S603 - fixed argv
            [str(celery), "-A", "config", "beat", "-l", "info", f"--schedule={schedule}", "--pidfile="],
            cwd=settings.BASE_DIR,
            env=_process_env(broker, extra_env),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    _wait_ready(process, log, "beat: Starting...")
    return process


def stop_worker(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


@pytest.fixture
def private_queue(postgres_and_redis):
    """Tasks sent from this process go to a queue private to the test, and not eagerly."""
    queue = f"analytics-it-{uuid.uuid4().hex[:8]}"
    previous = (celery_app.conf.task_always_eager, celery_app.conf.task_default_queue)
    celery_app.conf.task_always_eager = False
    celery_app.conf.task_default_queue = queue
    try:
        yield queue
    finally:
        celery_app.conf.task_always_eager, celery_app.conf.task_default_queue = previous


@pytest.fixture
def celery_worker_process(postgres_and_redis, private_queue, tmp_path):
    """A real worker on a private queue; tasks sent from this process go to that queue, not eagerly."""
    log = tmp_path / "worker.log"
    process = start_worker(postgres_and_redis, private_queue, log)
    try:
        yield process, log
    finally:
        stop_worker(process)


def _wait_ready(process: subprocess.Popen, log: Path, marker: str) -> None:
    deadline = time.monotonic() + WORKER_START_TIMEOUT
    already = log.read_text().count(marker) if log.exists() else 0
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"the Celery worker exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        if log.read_text().count(marker) > already:
            return
        time.sleep(0.3)
    pytest.fail(f"the Celery worker did not become ready in {WORKER_START_TIMEOUT} s:\n{log.read_text()[-3000:]}")
