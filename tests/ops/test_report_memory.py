"""Issue 17 (worker memory): a report run has glibc map large arrays on their own, so freeing one gives it back."""

from __future__ import annotations

import platform
import subprocess
import sys
import textwrap
from types import SimpleNamespace

import pytest

from tests.conftest import require_service

PROBE = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    import numpy as np
    from analytics.memory import large_allocations_mapped

    def rss_mb():
        line = next(l for l in Path("/proc/self/status").read_text().splitlines() if l.startswith("VmRSS:"))
        return int(line.split()[1]) / 1024

    if sys.argv[1] == "mapped":
        assert large_allocations_mapped(1 << 20)
    big = np.ones(32 << 17)  # 32 MB: mapped either way; freeing it raises glibc's own threshold to 32 MB
    del big
    before = rss_mb()
    kept = []
    for _ in range(6):
        block = np.ones(8 << 17)  # 8 MB: in the heap under glibc's raised threshold, mapped under ours
        kept.append(np.ones(16))  # a small live allocation after it pins the heap's top
        del block
    print(rss_mb() - before)
    """
)


def _growth(mode: str) -> float:
    out = subprocess.run([sys.executable, "-c", PROBE, mode], capture_output=True, text=True, check=True, timeout=60)  # noqa: S603
    return float(out.stdout.strip())


def test_freed_large_arrays_go_back_to_the_system_under_the_report_threshold():
    require_service(platform.libc_ver()[0] == "glibc" and sys.platform.startswith("linux"), "glibc's mallopt on Linux")
    assert _growth("mapped") < 4  # each 8 MB array was unmapped when freed
    assert _growth("default") > 4  # the control: glibc's own rule kept a freed block in the heap


def test_the_pipeline_applies_the_configured_threshold(monkeypatch, settings):
    from analytics import pipeline

    seen = []
    monkeypatch.setattr(pipeline, "large_allocations_mapped", seen.append)
    settings.REPORTS_MALLOC_MMAP_THRESHOLD = 3 << 20

    class Stop(Exception):
        pass

    def stop(*args, **kwargs):
        raise Stop

    monkeypatch.setattr(pipeline, "parameters_parse", stop)
    monkeypatch.setattr(pipeline, "report_run_start", lambda **kwargs: SimpleNamespace(parameters={}))
    with pytest.raises(Stop):
        pipeline.report_run_pipeline(1)
    assert seen == [3 << 20]


TRIM_PROBE = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    import numpy as np
    from analytics.memory import heap_trimmed, large_allocations_mapped

    def rss_mb():
        line = next(l for l in Path("/proc/self/status").read_text().splitlines() if l.startswith("VmRSS:"))
        return int(line.split()[1]) / 1024

    assert large_allocations_mapped(64 << 20)  # 2 MB arrays from the heap, as a unit's temporaries below 4 MiB are
    before = rss_mb()
    blocks, pins = [], []
    for _ in range(24):
        blocks.append(np.ones(2 << 17))  # 2 MB, touched
        pins.append(np.ones(12 << 10))  # 96 kB live after each (too big for a free list): freed blocks sit inside the heap
    del blocks
    freed = rss_mb() - before
    if sys.argv[1] == "trimmed":
        assert heap_trimmed()
    print(freed, rss_mb() - before)
    """
)


def _trim_growth(mode: str) -> tuple[float, float]:
    out = subprocess.run([sys.executable, "-c", TRIM_PROBE, mode], capture_output=True, text=True, check=True, timeout=60)  # noqa: S603
    freed, after = out.stdout.split()
    return float(freed), float(after)


def test_a_heap_trim_gives_back_the_free_pages_between_live_allocations():
    require_service(platform.libc_ver()[0] == "glibc" and sys.platform.startswith("linux"), "glibc's malloc_trim on Linux")
    kept, after_trim = _trim_growth("trimmed")
    assert kept > 40  # the control: 48 MB freed inside the heap stay resident
    assert after_trim < 8  # malloc_trim(0) returned them (the 2.3 MB of pins stay)
    assert _trim_growth("untouched")[1] > 40


def test_every_fit_unit_trims_the_heap_when_it_ends_even_when_it_fails(monkeypatch):
    from analytics import fits

    trims = []
    monkeypatch.setattr(fits, "heap_trimmed_if_grown", lambda: trims.append(True))

    def broken(sets, params, strata):
        raise ArithmeticError("degenerate")

    jobs = {"ok": fits.FitJob("ok", lambda sets, params, strata: {"x": 1}, "whole", 0.0, None, None)}
    jobs["broken"] = fits.FitJob("broken", broken, "whole", 0.0, None, None)
    monkeypatch.setattr(fits, "FIT_JOBS", jobs)
    params = SimpleNamespace(strata=())
    assert fits.fit_unit_run(fits.FitUnit("ok", fits.WHOLE), None, params) == {"x": 1}
    failed = fits.fit_unit_run(fits.FitUnit("broken", fits.WHOLE), None, params)
    assert failed["fit_failures"][0]["reason"] == "ArithmeticError: degenerate"
    assert trims == [True, True]


def test_a_unit_trims_only_once_the_resident_set_grew_past_the_slack(monkeypatch):
    """Issue 17 (report CPU): each trim makes the next units fault their pages in again, so a unit's end trims only
    when the resident set grew more than the slack since the last trim; a set that shrank meanwhile is the new mark,
    and an unknown one (no /proc) always trims."""
    from analytics import memory

    mb = 1024 * 1024
    resident = [100 * mb]
    trims = []
    monkeypatch.setattr(memory, "resident_bytes", lambda: resident[0])
    monkeypatch.setattr(memory, "_libc_function", lambda name: lambda pad: trims.append(resident[0]))
    monkeypatch.setattr(memory, "_resident_after_trim", [None])
    assert memory.heap_trimmed_if_grown(32 * mb)  # no mark yet: trims, the mark is 100 MB
    resident[0] = 130 * mb
    assert not memory.heap_trimmed_if_grown(32 * mb)  # +30 MB: the next units reuse those pages
    resident[0] = 90 * mb
    assert not memory.heap_trimmed_if_grown(32 * mb)  # shrank: 90 MB is the mark now
    resident[0] = 125 * mb
    assert memory.heap_trimmed_if_grown(32 * mb)  # +35 MB over the mark: trimmed
    assert trims == [100 * mb, 125 * mb]
    resident[0] = None
    assert memory.heap_trimmed_if_grown(32 * mb)
    assert trims[2:] == [None]
