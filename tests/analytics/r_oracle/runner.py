"""Running the R oracle scripts of this folder: one opt-in guard and one output parser for every oracle test.

``RUN_R_ORACLE=1`` opts in (CI sets it, so a missing R or package is a failure there, a skip on a laptop);
the scripts print ``section<TAB>key<TAB>value`` lines that :func:`tests.analytics.r_oracle.compare.parse` reads.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.analytics.r_oracle import compare
from tests.conftest import require_service

HERE = Path(__file__).resolve().parent
INSTALL = "apt-get install r-base-core r-cran-survival r-cran-cmprsk r-cran-nlme"


def rscript(packages: tuple[str, ...] = ("survival", "cmprsk")) -> str:
    """The path of Rscript with ``packages`` loadable; skips unless ``RUN_R_ORACLE=1`` (in CI: fails if missing)."""
    if os.environ.get("RUN_R_ORACLE") != "1":
        pytest.skip("R oracle is opt-in: set RUN_R_ORACLE=1")
    path = shutil.which("Rscript")
    if path is None:
        require_service(False, f"Rscript not found ({INSTALL})")
    libraries = "; ".join(f"library({name})" for name in packages)
    check = subprocess.run([path, "-e", libraries], capture_output=True, text=True, timeout=120, check=False)  # noqa: S603
    if check.returncode != 0:
        require_service(False, f"R packages {'/'.join(packages)} missing ({INSTALL}): {check.stderr.strip()[:200]}")
    return path


def r_values(script: Path, *arguments: Path | str, packages: tuple[str, ...] = ("survival", "cmprsk")) -> dict[str, dict]:
    """Run the oracle ``script`` with ``arguments`` (CSV paths, options) and parse its "section<TAB>key<TAB>value"
    lines."""
    run = subprocess.run(  # noqa: S603 - fixed arguments, no shell
        [rscript(packages), str(script), *map(str, arguments)], capture_output=True, text=True, timeout=300, check=False
    )
    assert run.returncode == 0, run.stderr
    return compare.parse(run.stdout)
