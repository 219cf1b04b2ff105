"""Production settings as a fresh process builds them (``config.settings.production`` cannot be imported
into the test process, which runs ``config.settings.test``); tests read them, or apply the keys they exercise."""

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PRODUCTION_ENV = {
    "DJANGO_SETTINGS_MODULE": "config.settings.production",
    "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
    "DATABASE_URL": "postgres://registry:secret@db.internal:5432/registry",
    "DJANGO_ALLOWED_HOSTS": "registry.example.org",
    "PRO_CONTACT_KEY": "hjxLDkG_ybZVeTNKhpJqLtqk-G4E7-l9WOKQCBOOIOo=",
}


def production_settings_dump(**env_extra: str) -> dict:
    """Every upper-case setting as config.settings.production builds it from ``PRODUCTION_ENV`` + ``env_extra``
    (a fresh process, so the module really is imported with that environment; values JSON or repr)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_"))}
    env.update(PRODUCTION_ENV, **env_extra)
    code = (
        "import json; from django.conf import settings; "
        "print(json.dumps({k: getattr(settings, k) for k in dir(settings) if k.isupper()}, default=repr))"
    )
    out = subprocess.run(  # noqa: S603 - fixed argv
        [sys.executable, "manage.py", "shell", "-c", code],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="session")
def production_settings() -> dict:
    """The production settings with the documented minimal environment."""
    return production_settings_dump()
