"""Celery application.

Settings are read from Django settings under the ``CELERY_`` namespace. In the
embedded default (no ``CELERY_BROKER_URL``) tasks run in-process; see
``config/settings/base.py``.
"""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")

app = Celery("registry")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
