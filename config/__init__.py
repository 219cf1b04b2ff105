"""Project configuration package; exports the Celery app so ``celery -A config`` works."""

import os

# One BLAS thread per process (issue 17): a report's fits run in parallel as processes (the Celery fan-out), so
# BLAS threads only compete for the same cores (two workers on two cores spent 77 s of CPU on 66.5 s of serial
# work at 100,000 patients), and the thread count changes the last bits of BLAS sums (the mixed model's numbers
# differed by up to 3.7e-10 relative between 1 and 2 threads): one thread everywhere gives the same numbers on any
# machine, whatever its core count. Set here, before numpy/scipy load OpenBLAS; a value in the environment wins.
for _variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")

from .celery_app import app as celery_app  # noqa: E402 - after the BLAS thread setting

__all__ = ("celery_app",)
