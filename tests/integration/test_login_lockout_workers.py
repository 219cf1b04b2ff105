"""The login lockout holds across two gunicorn workers (issue 14): real gunicorn, PostgreSQL, and Redis.

Two configurations, as deployed: login attempts in the database (no Redis configured), and in
the shared Redis cache (a broker configured). Guesses are sent concurrently on separate
connections so both workers answer some of them (the access log names each worker's pid);
the right password afterwards is still refused, whichever worker takes it.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
from django.conf import settings
from django.db import connection

from tests.conftest import require_service
from tests.factories import make_user
from tests.integration.conftest import redis_available, test_database_url
from trials.models import Role

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]
PASSWORD = "pw-Secret-123"
START_TIMEOUT = 60


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_gunicorn(log: Path, port: int, **extra_env: str) -> subprocess.Popen:
    env = {
        **os.environ,
        "DATABASE_URL": test_database_url(),
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "CELERY_TASK_ALWAYS_EAGER": "true",
        **extra_env,
    }
    with log.open("a") as out:
        process = subprocess.Popen(  # noqa: S603 - fixed argv
            [
                str(Path(sys.executable).with_name("gunicorn")),
                "config.wsgi:application",
                "--workers",
                "2",
                "--bind",
                f"127.0.0.1:{port}",
                "--access-logfile",
                "-",
                "--access-logformat",
                "worker=%(p)s %(s)s %(U)s",
            ],
            cwd=settings.BASE_DIR,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"gunicorn exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        try:
            if requests.get(f"http://127.0.0.1:{port}/login/", timeout=2).status_code == 200:
                return process
        except requests.RequestException:
            time.sleep(0.3)
    process.kill()
    pytest.fail(f"gunicorn did not answer in {START_TIMEOUT} s:\n{log.read_text()[-3000:]}")


def stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


def web_login(base: str, password: str) -> int:
    """One login through the page, on a fresh connection (so the kernel may hand it to either worker)."""
    with requests.Session() as session:
        session.get(f"{base}/login/", timeout=30)
        answer = session.post(
            f"{base}/login/",
            timeout=30,
            allow_redirects=False,
            data={"username": "alice", "password": password, "csrfmiddlewaretoken": session.cookies["csrftoken"]},
        )
        return answer.status_code


def token_guess(base: str, index: int) -> int:
    return requests.post(
        f"{base}/api/v1/auth/token/",
        json={"username": "alice", "password": f"guess-{index}"},
        headers={"X-Forwarded-For": f"198.51.100.{index}", "Connection": "close"},
        timeout=30,
    ).status_code


def workers_seen(log: Path, path: str) -> set[str]:
    return set(re.findall(rf"worker=<?(\d+)>? \d+ {re.escape(path)}", log.read_text()))


@pytest.fixture(params=["database", "redis"])
def lockout_store(request) -> dict[str, str]:
    require_service(
        connection.vendor == "postgresql", "needs PostgreSQL: set DATABASE_URL=postgres://postgres@127.0.0.1:5432/registry"
    )
    if request.param == "database":
        return {"DJANGO_CACHE_URL": "", "CELERY_BROKER_URL": ""}
    broker = settings.CELERY_BROKER_URL or ""
    require_service(redis_available(broker), "needs Redis: set CELERY_BROKER_URL=redis://127.0.0.1:6379/0")
    return {"DJANGO_CACHE_URL": broker, "DJANGO_CACHE_KEY_PREFIX": f"lockout-it-{uuid.uuid4().hex[:8]}"}


def test_lockout_holds_across_two_gunicorn_workers(lockout_store, site, tmp_path):
    make_user("alice", Role.COORDINATOR, site)
    log = tmp_path / "gunicorn.log"
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = start_gunicorn(log, port, **lockout_store)
    try:
        with ThreadPoolExecutor(max_workers=6) as pool:
            web = list(pool.map(lambda i: web_login(base, f"guess-{i}"), range(30)))
            api = list(pool.map(lambda i: token_guess(base, i), range(40)))
            # Which worker accepts a connection is the kernel's choice: on a busy machine one worker can take a
            # whole burst. Guess on (each guess must be refused too) until both have answered, at most 400 more.
            while len(workers_seen(log, "/api/v1/auth/token/")) < 2 and len(api) < 440:
                api += pool.map(lambda i: token_guess(base, i), range(len(api), len(api) + 40))
        right = [web_login(base, PASSWORD) for _ in range(4)]
    finally:
        stop(server)
    assert len(workers_seen(log, "/login/")) == 2, "both workers should have answered login attempts"
    assert len(workers_seen(log, "/api/v1/auth/token/")) == 2
    assert web.count(429) >= 25, web  # locked from the fifth failure on, whichever worker counted it
    assert api.count(429) == len(api), api  # the account stays locked for API logins, forged X-Forwarded-For or not
    assert right == [429] * 4, "the right password was accepted by a worker that had not seen the failures"
