"""pg_dump / restore round trip of a seeded registry: every record and audit entry survives (issue 7 §8)."""

import subprocess
from pathlib import Path

import psycopg
import pytest
from django.core.management import call_command
from django.db import connection

pytestmark = pytest.mark.django_db(transaction=True)
ROOT = Path(__file__).resolve().parents[2]


def _url(name: str) -> str:
    s = connection.settings_dict
    auth = s["USER"] + (f":{s['PASSWORD']}" if s["PASSWORD"] else "")
    return f"postgresql://{auth}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{name}"


def _fingerprint(url: str) -> dict[str, tuple[int, str]]:
    """Row count and md5 of the ordered content of every registry table (clinical, audit, auth)."""
    out = {}
    with psycopg.connect(url) as conn:
        tables = [
            r[0]
            for r in conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname='public' AND (tablename LIKE 'trials_%' OR tablename "
                "LIKE 'analytics_%' OR tablename='auth_user') ORDER BY 1"
            )
        ]
        for table in tables:
            count, digest = conn.execute(
                f"SELECT count(*), md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) FROM \"{table}\" t"
            ).fetchone()  # noqa: S608
            out[table] = (count, digest)
    return out


def test_dump_and_restore_preserves_every_record_and_audit_entry(postgres, tmp_path):
    call_command("seed_registry", "--sites", "2", "--patients", "60", "--anchor-date", "2026-06-30", "--no-progress")
    source = _url(connection.settings_dict["NAME"])
    target_name = connection.settings_dict["NAME"] + "_restore"
    admin = _url("postgres")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{target_name}"')
        conn.execute(f'CREATE DATABASE "{target_name}"')
    try:
        dump = tmp_path / "registry.dump"
        subprocess.run([str(ROOT / "docker/backup.sh"), source, str(dump)], check=True, capture_output=True)
        subprocess.run([str(ROOT / "docker/restore.sh"), str(dump), _url(target_name)], check=True, capture_output=True)
        before, after = _fingerprint(source), _fingerprint(_url(target_name))
        assert before["trials_patient"][0] == 60
        assert before["trials_historicalpatient"][0] >= 60
        assert before["trials_historicalvisit"][0] > 0
        assert after == before
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{target_name}" WITH (FORCE)')
