"""Celery application.

Settings are read from Django settings under the ``CELERY_`` namespace. In the
embedded default (no ``CELERY_BROKER_URL``) tasks run in-process; see
``config/settings/base.py``.
"""

import gc
import os

from celery import Celery
from celery.signals import worker_process_init, worker_ready

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")

app = Celery("registry")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_ready.connect  # the worker's own process (the solo pool runs tasks in it)
@worker_process_init.connect  # each pool process, after the fork
def gc_freeze_startup_objects(**_signal) -> None:
    """Hide the objects alive once the worker has loaded Django and the task modules from the garbage collector.

    They are ~270,000 modules, classes, functions and their dicts, which live as long as the process; every full
    collection scanned them all again (0.14 s each, 0.8 s of CPU in a 100,000-patient report: issue 17). After
    ``gc.freeze()`` a collection looks only at what tasks allocate; frozen objects are never freed, which is what
    already happens to them. In a prefork child it also keeps the collector from touching (and so copying) the
    pages it shares with the parent."""
    gc.collect()
    gc.freeze()
