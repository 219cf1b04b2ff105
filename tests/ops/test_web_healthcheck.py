"""The web container's healthcheck and command line, run for real under production settings (issue 14).

gunicorn is started with the image's own CMD (from docker/Dockerfile) and the production settings as compose
passes them: SSL redirect on and only the real host name allowed — the two cases in which the old healthcheck
(a bare GET of http://127.0.0.1:8000/healthz) stayed unhealthy for ever. HOME points nowhere writable, as for
the image's app user, so a control-socket error would show in the log.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

ROOT = Path(__file__).resolve().parents[2]
HOST = "registry.example.org"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _image_command(port: int) -> list[str]:
    cmd = json.loads(re.search(r"^CMD (\[.*\])$", (ROOT / "docker" / "Dockerfile").read_text(), flags=re.MULTILINE).group(1))
    cmd[cmd.index("--bind") + 1] = f"127.0.0.1:{port}"
    cmd[cmd.index("--workers") + 1] = "1"  # two shared cores
    return [str(Path(sys.executable).with_name(cmd[0])), *cmd[1:]]


@pytest.fixture(scope="module")
def production_gunicorn(tmp_path_factory):
    port, log = _free_port(), tmp_path_factory.mktemp("gunicorn") / "gunicorn.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_", "XDG_"))}
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "config.settings.production",
            "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
            "PRO_CONTACT_KEY": Fernet.generate_key().decode(),
            "DJANGO_ALLOWED_HOSTS": HOST,
            "DJANGO_SECURE_SSL_REDIRECT": "True",
            "DATABASE_URL": f"sqlite:///{tmp_path_factory.mktemp('db') / 'health.sqlite3'}",
            "HOME": "/proc/no-home",  # unwritable, like a system user's missing home
        }
    )
    with log.open("w") as out:
        process = subprocess.Popen(_image_command(port), cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)  # noqa: S603
    try:
        deadline = time.monotonic() + 60
        while "Booting worker" not in log.read_text():
            assert process.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        time.sleep(1.0)  # the worker imports Django
        yield port, env, log
    finally:
        process.terminate()
        process.wait(timeout=20)


def _healthcheck(env: dict, url: str) -> subprocess.CompletedProcess:
    return subprocess.run(  # noqa: S603 - fixed argv
        [sys.executable, str(ROOT / "docker" / "healthcheck.py")],
        env={**env, "HEALTHCHECK_URL": url},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def _status(url: str, headers: dict[str, str]) -> int:
    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None

    try:
        with urllib.request.build_opener(NoRedirect).open(urllib.request.Request(url, headers=headers), timeout=10) as response:  # noqa: S310
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


def test_healthcheck_passes_with_ssl_redirect_on_and_only_the_real_host_allowed(production_gunicorn):
    port, env, _ = production_gunicorn
    url = f"http://127.0.0.1:{port}/healthz"
    for _ in range(20):  # the worker may still be importing
        result = _healthcheck(env, url)
        if result.returncode == 0:
            break
        time.sleep(0.5)
    assert result.returncode == 0, result.stderr
    # what the old check did, and why it failed: 127.0.0.1 is not an allowed host
    assert _status(url, {}) == 400
    # the SSL redirect is really on: a page asked for over plain http by the real host is sent to https
    assert _status(f"http://127.0.0.1:{port}/login/", {"Host": HOST}) == 301
    assert _status(f"http://127.0.0.1:{port}/login/", {"Host": HOST, "X-Forwarded-Proto": "https"}) == 200


def test_healthcheck_fails_when_nothing_answers(production_gunicorn):
    _, env, _ = production_gunicorn
    result = _healthcheck(env, f"http://127.0.0.1:{_free_port()}/healthz")
    assert result.returncode == 1 and "unhealthy" in result.stderr


def test_gunicorn_starts_without_a_control_socket_error(production_gunicorn):
    _, _, log = production_gunicorn
    text = log.read_text()
    assert "Listening at" in text and "Control server error" not in text and "Permission denied" not in text
