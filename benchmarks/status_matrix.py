"""Benchmark: the record status matrix page (patients × visits) on PostgreSQL, per page, at scale.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/registry_bench \\
        .venv/bin/python benchmarks/status_matrix.py --patients 100000

Seeds the database with ``seed_registry`` when it holds fewer patients (re-uses it
otherwise), then renders ``GET /record-status/`` as a logged-in data manager —
the whole Django request: session, filters, the patient page and its count,
visits, signatures, exits, locks, open queries and the template — for the first,
a middle and the last page, one site, and the status filters. Prints the best of
``--repeat`` runs per case in milliseconds, the SQL query count, and whether each
is under the goal (300 ms per page).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from benchmarks import pgbench_db  # noqa: E402

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/registry_bench"
GOAL_MS = 300.0


def setup_django() -> None:
    pgbench_db.setup_django(DEFAULT_DATABASE_URL)


def ensure_database() -> None:
    pgbench_db.ensure_database("This benchmark measures PostgreSQL")


def client_for_data_manager():
    from django.contrib.auth import get_user_model
    from django.test import Client

    from trials.models import Membership, Role

    user, _ = get_user_model().objects.get_or_create(username="bench_data_manager")
    Membership.objects.get_or_create(user=user, role=Role.DATA_MANAGER, site=None)
    client = Client()
    client.force_login(user)
    return client


def time_page(client, params: dict, repeat: int) -> tuple[float, float, int]:
    """(best ms, median ms, SQL queries) of GET /record-status/ with ``params``."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    timings = []
    for _ in range(repeat):
        started = time.perf_counter()
        response = client.get("/record-status/", params)
        timings.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, response.status_code
    with CaptureQueriesContext(connection) as ctx:
        client.get("/record-status/", params)
    return min(timings), statistics.median(timings), len(ctx.captured_queries)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=100_000)
    parser.add_argument("--sites", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=5, help="Timed runs per case; best and median reported.")
    args = parser.parse_args()
    setup_django()
    ensure_database()
    from django.core.management import call_command
    from django.db import connection

    from trials.models import Patient, Site, Visit
    from trials.web.views.matrix import PAGE_SIZE

    started = time.perf_counter()
    call_command("seed_registry", sites=args.sites, patients=args.patients, no_progress=True, verbosity=0)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    patients = Patient.objects.count()
    print(f"registry ready in {time.perf_counter() - started:.1f} s: {patients:,} patients, {Visit.objects.count():,} visits")
    client = client_for_data_manager()
    client.get("/record-status/")  # warm-up: imports, URL resolver, template loading, connection
    last = max(1, (patients + PAGE_SIZE - 1) // PAGE_SIZE)
    site = Site.objects.order_by("code").first()
    cases = [
        ("first page", {}),
        ("middle page", {"page": last // 2}),
        ("last page", {"page": last}),
        (f"site {site.code}, page 2", {"site": site.pk, "page": 2}),
    ]
    cases += [(f"status {status}", {"status": status}) for status in ("overdue", "missed", "signed", "open_query", "locked")]
    print(f"{'case':<24} {'best ms':>8} {'median ms':>10} {'queries':>8}  goal < {GOAL_MS:.0f} ms")
    worst = 0.0
    for name, params in cases:
        best, median, queries = time_page(client, params, args.repeat)
        worst = max(worst, median)
        print(f"{name:<24} {best:>8.1f} {median:>10.1f} {queries:>8}  {'OK' if median < GOAL_MS else 'ABOVE GOAL'}")
    print(
        f"slowest median {worst:.1f} ms per page of {PAGE_SIZE} patients at {patients:,} patients "
        f"({'meets' if worst < GOAL_MS else 'misses'} the {GOAL_MS:.0f} ms goal)"
    )


if __name__ == "__main__":
    main()
