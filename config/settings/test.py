"""Test settings: the same as base, fast password hashing.

``DATABASE_URL`` and ``CELERY_BROKER_URL`` are honoured, so the same suite runs
on SQLite (laptop) and on PostgreSQL + Redis (CI).
"""

from .base import *  # noqa: F403
from .base import BASE_DIR, env

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# One media folder per pytest-xdist worker ("gw0", "gw1", …): two workers' test databases hand out the same ids,
# so their report files would otherwise overwrite each other.
MEDIA_ROOT = BASE_DIR / ".test-media" / env("PYTEST_XDIST_WORKER", default="main")
PRO_CONTACT_KEY = env("PRO_CONTACT_KEY", default="ZGV2LW9ubHktcHJvLWNvbnRhY3Qta2V5LW5vdC1zZWM=")  # development-only key
if not env("EMAIL_HOST", default=""):
    EMAIL_FILE_PATH = str(MEDIA_ROOT / "outbox")
# Tests decide per case whether tasks run eagerly; by default they do, so unit
# tests never need a broker. The integration tier starts a real worker.
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=True)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

# Tests on one shared Redis must not share throttle and login-attempt counters: the cache is
# per process (and login attempts in the test database) unless DJANGO_CACHE_URL asks for Redis.
if not env("DJANGO_CACHE_URL", default=""):
    CACHE_URL = ""
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    AXES_HANDLER = "axes.handlers.database.AxesDatabaseHandler"
