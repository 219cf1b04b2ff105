"""Shared set-up of the benchmarks that measure PostgreSQL: Django settings and the benchmark database."""

from __future__ import annotations

import os
import sys


def setup_django(default_database_url: str, **env_defaults: str) -> None:
    """Point Django at ``DATABASE_URL`` (or the benchmark's default) with the local settings, then set it up.

    ``env_defaults``: further environment defaults the benchmark needs (e.g. a higher API throttle)."""
    os.environ.setdefault("DATABASE_URL", default_database_url)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
    for name, value in env_defaults.items():
        os.environ.setdefault(name, value)
    import django

    django.setup()


def ensure_database(why: str) -> None:
    """Create the database named in ``DATABASE_URL`` when it does not exist, then migrate.

    Exits with ``why`` (what needs PostgreSQL) when the configured database is not PostgreSQL."""
    import psycopg
    from django.conf import settings
    from django.core.management import call_command

    db = settings.DATABASES["default"]
    if db["ENGINE"] != "django.db.backends.postgresql":
        sys.exit(f"{why}: set DATABASE_URL=postgres://…")
    conninfo = dict(
        host=db.get("HOST") or "127.0.0.1",
        port=db.get("PORT") or 5432,
        user=db.get("USER"),
        password=db.get("PASSWORD") or None,
        dbname="postgres",
        autocommit=True,
    )
    with psycopg.connect(**conninfo) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [db["NAME"]]).fetchone():
            conn.execute(f'CREATE DATABASE "{db["NAME"]}"')
    call_command("migrate", verbosity=0)
