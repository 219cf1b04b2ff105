"""Every process of the product runs BLAS on one thread (config/__init__.py): parallel fits are processes, and the
thread count changes the last bits of BLAS sums, so one thread everywhere gives the same numbers on any machine."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PROBE = """
import django
django.setup()  # what manage.py, gunicorn and `celery -A config` do first
import numpy as np
a = np.random.default_rng(1).random((1500, 1500))
a @ a
print(len(__import__("os").listdir("/proc/self/task")))
"""


def _threads(**environment: str) -> int:
    env = {k: v for k, v in os.environ.items() if not k.endswith("_NUM_THREADS")}
    env |= {"DJANGO_SETTINGS_MODULE": "config.settings.test", **environment}
    run = subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)  # noqa: S603
    assert run.returncode == 0, run.stderr
    return int(run.stdout.split()[-1])


def test_blas_runs_on_one_thread_unless_the_environment_says_otherwise():
    assert _threads() == 1
    if (os.cpu_count() or 1) > 1:  # an explicit setting wins (the probe sees more threads on a multi-core machine)
        assert _threads(OPENBLAS_NUM_THREADS="2") == 2
