"""CPU seconds of the report's data stages (issue 17), load-robust: this process plus its PostgreSQL backend.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/registry_bench \\
        .venv/bin/python benchmarks/report_stages.py [CHECKOUT] [STRATA]

Prints one JSON line: extraction, fingerprint, derivation and adtte/adresp CSV writing in CPU seconds, and the
process's peak RSS in MB. ``CHECKOUT`` (default: this one) is the source tree to import, so an older checkout
(e.g. a worktree of the commit before issue 17) can be measured on the same database for a before/after.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(sys.argv[1]).resolve() if len(sys.argv) > 1 else Path(__file__).resolve().parent.parent


def proc_cpu(pid: int) -> float:
    """CPU seconds (user + system) of ``pid`` (Linux /proc; PostgreSQL runs on this machine)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    sys.path.insert(0, str(ROOT))
    os.chdir(ROOT)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
    import django

    django.setup()
    from django.db import connection, transaction

    from analytics.dataset import snapshot_extract, snapshot_fingerprint
    from analytics.derive import analysis_sets_build
    from analytics.parameters import parameters_parse
    from analytics.render.files import analysis_csvs_write

    def cpu() -> float:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            return time.process_time() + proc_cpu(cursor.fetchone()[0])

    params = parameters_parse({"strata": sys.argv[2]} if len(sys.argv) > 2 else {})
    out = {}
    with transaction.atomic():
        started = cpu()
        snapshot = snapshot_extract()
        out["extract"] = cpu() - started
    started = cpu()
    snapshot_fingerprint(snapshot)
    out["fingerprint"] = cpu() - started
    started = cpu()
    sets = analysis_sets_build(snapshot, params)
    out["derive"] = cpu() - started
    del snapshot
    started = cpu()
    analysis_csvs_write(Path(tempfile.mkdtemp()), sets)
    out["csv"] = cpu() - started
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({key: round(value, 2) for key, value in out.items()}))


if __name__ == "__main__":
    main()
