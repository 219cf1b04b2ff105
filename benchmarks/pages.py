"""Benchmark: every interactive page and API list at scale, through gunicorn, per role (issue 17 acceptance).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/registry_bench \\
        .venv/bin/python benchmarks/pages.py --patients 100000 --port 8105

Seeds the database with ``seed_registry`` when it holds fewer patients (re-uses it otherwise), makes one
account per role and ``--runs`` finished report runs (25 by default, each with a ``result`` of about 2.8 MB,
the size of a real run's result.json at 100,000 patients), starts gunicorn on ``--port`` (2 workers, the
cache in Redis when ``DJANGO_CACHE_URL`` is set so the workers share it), logs in as each role and times the
worklist, patient list and search, patient page, status matrix, dashboard, query list, audit log, users,
reports page, report detail and the API lists: one warm-up request, then ``--requests`` timed requests each
(10 by default); prints the median and p95 (linear interpolation) of each against the goal p95 ≤ 300 ms,
with the number of SQL queries of one request (counted in this process with Django's test client on the
same database) and the response size. The load average is printed before and after.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from benchmarks import pgbench_db  # noqa: E402

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/registry_bench"
GOAL_P95_MS = 300.0
PASSWORD = "bench-Pages-2026"
RESULT_BYTES = 2_800_000


def setup_django() -> None:
    pgbench_db.setup_django(DEFAULT_DATABASE_URL, API_THROTTLE_USER="100000/minute", DJANGO_DEBUG="0")


def seed(patients: int) -> None:
    from django.core.management import call_command

    from trials.models import Patient

    if Patient.objects.count() < patients:
        call_command("seed_registry", sites=10, patients=patients, no_progress=True, verbosity=0)


def accounts() -> dict[str, object]:
    """One user per role (coordinator and site investigator of the first site), password ``PASSWORD``."""
    from django.contrib.auth import get_user_model

    from trials.models import Membership, Role, Site

    site = Site.objects.order_by("pk").first()
    users = {}
    for role in (Role.COORDINATOR, Role.SITE_INVESTIGATOR, Role.DATA_MANAGER, Role.INVESTIGATOR, Role.SPONSOR):
        user, _ = get_user_model().objects.get_or_create(username=f"bench_{role.value}")
        user.set_password(PASSWORD)
        user.save()
        at_site = role.value in ("coordinator", "site_investigator")
        Membership.objects.get_or_create(user=user, role=role, site=site if at_site else None)
        users[role.value] = user
    return users


def report_runs(n: int, investigator) -> int:
    """At least ``n`` finished runs with a realistic ``result`` size; returns the newest run's id."""
    from analytics.models import ReportRun, RunStatus

    have = ReportRun.objects.filter(status=RunStatus.SUCCEEDED).count()
    padding = ["0.123456789"] * (RESULT_BYTES // 14)
    parameters = {"strata": ["modality"]}
    for k in range(have, n):
        ReportRun.objects.create(
            parameters={"strata": ["modality"]},
            parameters_key=f"bench-{k}",
            status=RunStatus.SUCCEEDED,
            progress=100,
            stage="done",
            fingerprint=f"{k:064x}",
            data_version="bench",
            result={"n_patients": 100000, "data_cutoff": "2026-01-01", "parameters": parameters, "padding": padding},
            requested_by=investigator,
        )
    return ReportRun.objects.filter(status=RunStatus.SUCCEEDED).order_by("-pk").values_list("pk", flat=True).first()


def targets(users, run_id: int) -> list[tuple[str, str, str]]:
    """(role, label, path) of every timed request."""
    from trials.models import Patient

    coordinator_site = users["coordinator"].memberships.get().site_id
    patient = Patient.objects.filter(site_id=coordinator_site).order_by("pk").first()
    search = patient.study_id[: max(3, len(patient.study_id) - 2)]
    return [
        ("coordinator", "worklist", "/worklist/"),
        ("coordinator", "patient list", "/patients/"),
        ("coordinator", "patient search", f"/patients/?q={search}"),
        ("coordinator", "patient page", f"/patients/{patient.study_id}/"),
        ("coordinator", "status matrix", "/record-status/"),
        ("coordinator", "query list", "/data-management/queries/"),
        ("site_investigator", "worklist", "/worklist/"),
        ("site_investigator", "status matrix", "/record-status/"),
        ("data_manager", "dashboard", "/dashboard/"),
        ("data_manager", "patient list", "/patients/"),
        ("data_manager", "patient search", f"/patients/?q={search}"),
        ("data_manager", "status matrix", "/record-status/"),
        ("data_manager", "query list", "/data-management/queries/"),
        ("data_manager", "audit log", "/audit-log/"),
        ("data_manager", "users", "/users/"),
        ("investigator", "reports page", "/reports/"),
        ("investigator", "report detail", f"/reports/{run_id}/"),
        ("investigator", "patient list", "/patients/"),
        ("data_manager", "API patients", "/api/v1/patients/"),
        ("data_manager", "API visits", "/api/v1/visits/"),
        ("data_manager", "API adverse events", "/api/v1/adverse-events/"),
        ("sponsor", "API patients", "/api/v1/patients/"),
        ("sponsor", "API visits", "/api/v1/visits/"),
    ]


def query_count(user, path: str) -> int:
    """SQL queries of one request, counted in-process (Django test client, same database)."""
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client()
    client.force_login(user)
    token = _token(user) if path.startswith("/api/") else None
    extra = {"HTTP_AUTHORIZATION": f"Token {token}"} if token else {}
    client.get(path, **extra)  # warm: the cache the page may keep
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(path, **extra)
    assert response.status_code == 200, (path, response.status_code)
    return len(ctx.captured_queries)


_TOKENS: dict[int, str] = {}


def _token(user) -> str:
    from apicore.tokens import api_token_issue

    if user.pk not in _TOKENS:
        _TOKENS[user.pk] = api_token_issue(user=user)[0]
    return _TOKENS[user.pk]


def start_gunicorn(port: int) -> subprocess.Popen:
    env = dict(os.environ)
    command = [
        str(Path(sys.executable).with_name("gunicorn")),
        "config.wsgi:application",
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        "2",
        "--timeout",
        "300",
        "--log-level",
        "warning",
    ]
    process = subprocess.Popen(command, cwd=ROOT, env=env, start_new_session=True)
    import requests

    for _ in range(240):
        try:
            requests.get(f"http://127.0.0.1:{port}/login/", timeout=60)
            return process
        except requests.RequestException:
            time.sleep(0.5)
    os.killpg(process.pid, signal.SIGTERM)
    sys.exit("gunicorn did not start")


def session_for(base: str, username: str):
    import requests

    session = requests.Session()
    page = session.get(f"{base}/login/", timeout=60)
    csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
    response = session.post(
        f"{base}/login/",
        data={"username": username, "password": PASSWORD, "csrfmiddlewaretoken": csrf},
        headers={"Referer": f"{base}/login/"},
        timeout=60,
        allow_redirects=False,
    )
    assert response.status_code == 302, f"login of {username} failed: {response.status_code}"
    return session


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    position = 0.95 * (len(ordered) - 1)
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=100_000)
    parser.add_argument("--port", type=int, default=8105)
    parser.add_argument("--requests", type=int, default=10)
    parser.add_argument("--runs", type=int, default=25, help="Finished report runs on the reports page.")
    args = parser.parse_args()
    setup_django()
    pgbench_db.ensure_database("The pages benchmark runs on PostgreSQL")
    seed(args.patients)
    from trials.models import Patient, Visit

    users = accounts()
    run_id = report_runs(args.runs, users["investigator"])
    plan = targets(users, run_id)
    print(
        f"patients {Patient.objects.count():,}, visits {Visit.objects.count():,}; load average before {os.getloadavg()}",
        flush=True,
    )
    counts = {}
    for role, label, path in plan:
        started = time.perf_counter()
        counts[role, path] = query_count(users[role], path)
        print(f"  queries of {role} {label}: {counts[role, path]} (counted in {time.perf_counter() - started:.1f} s)", flush=True)
    base = f"http://127.0.0.1:{args.port}"
    server = start_gunicorn(args.port)
    try:
        sessions = {}
        for role, _, _path in plan:
            if role not in sessions:
                sessions[role] = session_for(base, users[role].username)
                sessions[role].headers["Authorization"] = f"Token {_token(users[role])}"
        heading = f"{'role':<18} {'page':<20} {'median ms':>9} {'p95 ms':>8} {'queries':>7} {'KB':>7}"
        print(f"{heading}  goal p95 ≤ {GOAL_P95_MS:.0f} ms")
        over = []
        for role, label, path in plan:
            session = sessions[role]
            api = path.startswith("/api/")
            if not api:
                session.headers.pop("Authorization", None)
            else:
                session.headers["Authorization"] = f"Token {_token(users[role])}"
            warm = session.get(base + path, timeout=300)
            assert warm.status_code == 200, (role, path, warm.status_code)
            times, size = [], len(warm.content)
            for _ in range(args.requests):
                started = time.perf_counter()
                response = session.get(base + path, timeout=300)
                times.append((time.perf_counter() - started) * 1000)
                assert response.status_code == 200, (role, path, response.status_code)
            median, high = statistics.median(times), p95(times)
            flag = "" if high <= GOAL_P95_MS else "  ABOVE GOAL"
            if flag:
                over.append((role, label))
            print(f"{role:<18} {label:<20} {median:>9.0f} {high:>8.0f} {counts[role, path]:>7} {size / 1024:>7.0f}{flag}")
        print(f"load average after {os.getloadavg()}")
        print("every p95 within the goal" if not over else f"{len(over)} above the goal: {over}")
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)


if __name__ == "__main__":
    main()
