"""Bounded load test on loopback: gunicorn + Celery worker + PostgreSQL + Redis (issue 7 §5).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/registry_load CELERY_BROKER_URL=redis://127.0.0.1:6379/14 \\
        .venv/bin/python benchmarks/load_test.py --clients 50 --duration 60

Creates (or reuses) the database, seeds a registry, starts gunicorn and one Celery
worker as subprocesses on 127.0.0.1, then runs ``--clients`` concurrent API clients
for ``--duration`` seconds: 65% reads (visit lists, patient detail), 30% visit
writes through the services (each client corrects its own visits with If-Match and
a reason, so no two clients contend), 5% report requests. Prints requests/s,
p50/p95/p99 latency per kind and the error count (goal: 0). Every loop is bounded
in count and time and talks to loopback only.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import statistics
import subprocess
import sys
import threading
import time
from collections import defaultdict
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
PY = sys.executable
HOST = "127.0.0.1"


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--clients", type=int, default=50)
    p.add_argument("--duration", type=float, default=60.0, help="seconds of load")
    p.add_argument("--patients", type=int, default=1500)
    p.add_argument("--port", type=int, default=8765)
    p.add_argument("--web-workers", type=int, default=3)
    p.add_argument("--web-threads", type=int, default=8)
    return p.parse_args()


def server_env() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/registry_load")
    env.setdefault("CELERY_BROKER_URL", "redis://127.0.0.1:6379/14")
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings.local",
        DJANGO_DEBUG="False",
        CELERY_TASK_ALWAYS_EAGER="False",
        API_THROTTLE_USER="1000000/minute",
        API_THROTTLE_LOGIN="100000/minute",
        # The 50 clients share one investigator account; the per-user quota of active report runs (3) is a
        # product policy for one person, tested in tests/api, not a capacity limit to measure here.
        REPORTS_MAX_ACTIVE_RUNS_PER_USER="1000",
        DJANGO_MEDIA_ROOT=str(ROOT / "media-load"),
        DATABASE_CONN_MAX_AGE="60",
    )
    return env


def prepare(env: dict[str, str], patients: int) -> None:
    import psycopg

    url = env["DATABASE_URL"]
    if not url.startswith("postgres"):
        sys.exit("The load test runs against PostgreSQL: set DATABASE_URL=postgres://…")
    name = url.rsplit("/", 1)[1]
    with psycopg.connect(url.rsplit("/", 1)[0] + "/postgres", autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname=%s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')
    run = lambda *a: subprocess.run([PY, "manage.py", *a], cwd=ROOT, env=env, check=True)  # noqa: E731
    run("migrate", "-v0")
    run("seed_registry", "--sites", "3", "--patients", str(patients), "--no-progress")


def start_servers(env, args) -> list[subprocess.Popen]:
    log = open(ROOT / "media-load.log", "w")  # noqa: SIM115 - closed with the processes
    web = subprocess.Popen(
        [
            str(Path(PY).parent / "gunicorn"),
            "config.wsgi:application",
            "--bind",
            f"{HOST}:{args.port}",
            "--workers",
            str(args.web_workers),
            "--threads",
            str(args.web_threads),
            "--timeout",
            "60",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    worker = subprocess.Popen(
        [str(Path(PY).parent / "celery"), "-A", "config", "worker", "--pool=solo", "-l", "warning"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://{HOST}:{args.port}"
    for _ in range(120):
        try:
            if requests.get(base + "/healthz", timeout=2).status_code == 200:
                break
        except requests.RequestException:
            time.sleep(0.5)
    else:
        raise SystemExit("gunicorn did not come up; see media-load.log")
    return [web, worker]


class Client(threading.Thread):
    def __init__(self, idx: int, base: str, token: str, inv_token: str, visits: list[str], deadline: float, stats):
        super().__init__(daemon=True)
        self.idx, self.base, self.deadline, self.stats = idx, base, deadline, stats
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Token {token}"
        self.inv = {"Authorization": f"Token {inv_token}"}
        self.visits = visits
        self.rng = random.Random(idx)

    def record(self, kind: str, started: float, response: requests.Response | None, ok: bool) -> None:
        self.stats[kind].append((time.perf_counter() - started, ok, None if response is None else response.status_code))

    def call(self, kind, method, path, ok_codes=(200,), **kw):
        started = time.perf_counter()
        try:
            r = self.session.request(method, self.base + path, timeout=30, **kw)
            self.record(kind, started, r, r.status_code in ok_codes)
            return r
        except requests.RequestException:
            self.record(kind, started, None, False)
            return None

    def run(self) -> None:
        n = 0
        while time.monotonic() < self.deadline and n < 100_000:
            n += 1
            roll = self.rng.random()
            if roll < 0.35:
                self.call("read_visit_list", "GET", "/api/v1/visits/?page_size=50")
            elif roll < 0.65:
                self.call("read_visit", "GET", f"/api/v1/visits/{self.rng.choice(self.visits)}/")
            elif roll < 0.95:
                self.write_visit()
            else:
                strata = self.rng.choice(["modality", "augmentation", "region"])
                self.call(
                    "report_request",
                    "POST",
                    "/api/v1/reports/",
                    ok_codes=(200, 201, 202),
                    json={"strata": [strata]},
                    headers=self.inv,
                )

    def write_visit(self) -> None:
        visit = self.rng.choice(self.visits)
        r = self.call("write_visit_get", "GET", f"/api/v1/visits/{visit}/")
        if r is None or r.status_code != 200:
            return
        body = {"pain": {"worst": self.rng.randint(0, 10)}, "reason": "load test correction"}
        self.call("write_visit", "PATCH", f"/api/v1/visits/{visit}/", json=body, headers={"If-Match": r.headers.get("ETag", "")})


def tokens(base: str, users: list[str]) -> dict[str, str]:
    out = {}
    for user in users:
        r = requests.post(base + "/api/v1/auth/token/", json={"username": user, "password": "demo"}, timeout=30)
        r.raise_for_status()
        out[user] = r.json()["token"]
    return out


def own_visits(base: str, token: str) -> list[str]:
    """Completed visits of the coordinator's site (ids), to be corrected under load."""
    ids, url = [], base + "/api/v1/visits/?page_size=1000&status=completed"
    r = requests.get(url, headers={"Authorization": f"Token {token}"}, timeout=60)
    r.raise_for_status()
    for row in r.json()["results"]:
        if row.get("visit_date"):
            ids.append(str(row["id"]))
    return ids


def report(stats, elapsed: float) -> int:
    total = sum(len(v) for v in stats.values())
    errors = sum(1 for v in stats.values() for _, ok, _ in v if not ok)
    lat = sorted(d for v in stats.values() for d, _, _ in v)
    q = lambda xs, p: xs[min(len(xs) - 1, int(p * len(xs)))] * 1000 if xs else float("nan")  # noqa: E731
    print(f"\nrequests: {total} in {elapsed:.1f} s = {total / elapsed:.1f} req/s; errors: {errors}")
    print(f"latency ms  p50 {q(lat, 0.50):.0f}  p95 {q(lat, 0.95):.0f}  p99 {q(lat, 0.99):.0f}")
    print(f"{'kind':<18}{'n':>7}{'errors':>8}{'p50':>8}{'p95':>8}{'p99':>8}  status codes")
    for kind, rows in sorted(stats.items()):
        d = sorted(x for x, _, _ in rows)
        codes = statistics.multimode([c for _, _, c in rows]) if rows else []
        errs = sum(1 for _, ok, _ in rows if not ok)
        bad = sorted({c for _, ok, c in rows if not ok}, key=str)
        print(
            f"{kind:<18}{len(rows):>7}{errs:>8}{q(d, 0.5):>8.0f}{q(d, 0.95):>8.0f}{q(d, 0.99):>8.0f}  "
            f"{codes} {'errors: ' + str(bad) if bad else ''}"
        )
    print(f"goal: 0 errors -> {'met' if errors == 0 else 'NOT met'}")
    return errors


def main() -> None:
    args = parse_args()
    env = server_env()
    prepare(env, args.patients)
    procs = start_servers(env, args)
    try:
        base = f"http://{HOST}:{args.port}"
        users = ["coordinator_atl", "coordinator_bos", "coordinator_chi", "investigator"]
        tok = tokens(base, users)
        visits = {u: own_visits(base, tok[u]) for u in users[:3]}
        stats: dict[str, list] = defaultdict(list)
        deadline = time.monotonic() + args.duration
        clients = []
        for i in range(args.clients):
            user = users[i % 3]
            mine = visits[user][i // 3 :: max(1, args.clients // 3 + 1)]  # disjoint per client: no contention
            clients.append(Client(i, base, tok[user], tok["investigator"], mine or visits[user], deadline, stats))
        started = time.perf_counter()
        for c in clients:
            c.start()
        for c in clients:
            c.join(timeout=args.duration + 60)
        errors = report(stats, time.perf_counter() - started)
    finally:
        for p in procs:
            p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
    sys.exit(1 if errors else 0)


if __name__ == "__main__":
    main()
