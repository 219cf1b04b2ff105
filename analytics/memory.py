"""The report worker's memory (issue 17): freed frames given back to the operating system, large arrays mapped.

glibc keeps freed heap memory for reuse; a report's stages free hundreds of MB of frames and arrays, so without these
the worker's resident set would be the sum of what each stage left behind rather than the largest stage.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import os
from functools import lru_cache


@lru_cache(maxsize=2)
def _libc_function(name: str):
    """glibc's ``name`` function (``malloc_trim``, ``mallopt``); None elsewhere (musl, macOS)."""
    try:
        return getattr(ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6"), name)
    except (OSError, AttributeError):
        return None


M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter number (malloc.h)


def large_allocations_mapped(threshold: int) -> bool:
    """Have glibc serve each allocation of ``threshold`` bytes or more (a large array) with a mapping of its own that
    goes back to the operating system when the array is freed, and keep the threshold fixed (glibc otherwise raises it
    up to 32 MB after large frees, and the freed arrays stay in the worker's heap). Settings
    ``REPORTS_MALLOC_MMAP_THRESHOLD``; issue 17, worker memory. Returns whether it was applied (False for 0, or
    without glibc)."""
    mallopt = _libc_function("mallopt")
    if threshold <= 0 or mallopt is None:
        return False
    return bool(mallopt(M_MMAP_THRESHOLD, int(threshold)))


def memory_release() -> None:
    """Give the memory of the frames a stage dropped back to the operating system (issue 17, worker memory).

    The extraction's and the fits' large temporaries are freed when a stage ends, but glibc keeps freed heap
    pages mapped, so the next stage's allocations would pile on top of them and the worker's peak RSS would
    be the sum of the stages' peaks instead of the largest. A collection (pandas frames hold reference
    cycles) and ``malloc_trim(0)`` return them; elsewhere this is only the collection."""
    gc.collect()
    trim = _libc_function("malloc_trim")
    if trim is not None:
        trim(0)
        _resident_after_trim[0] = resident_bytes()


# A fit unit's end trims the heap only when the resident set grew more than this since the last trim (issue 17). At
# 100,000 patients (default strata, four runs each): 45 trims instead of 91, the compute stage's system CPU (pages
# faulted in again after a trim) 2.39 -> 2.12 s, its peak the same (431-438 MB); a 64 MB slack trimmed 13 times
# but raised the peak ~13 MB.
TRIM_SLACK_BYTES = 32 * 1024 * 1024
_resident_after_trim: list[int | None] = [None]  # this process's resident set after its last heap trim


def resident_bytes() -> int | None:
    """This process's resident set in bytes (Linux ``/proc/self/statm``), None where it cannot be read."""
    try:
        with open("/proc/self/statm", encoding="ascii") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return None


def heap_trimmed_if_grown(slack_bytes: int = TRIM_SLACK_BYTES) -> bool:
    """:func:`heap_trimmed` when the resident set grew more than ``slack_bytes`` since the last trim in this process
    (or when either is unknown); else nothing, and a resident set that shrank meanwhile becomes the new mark. Called
    at the end of each fit unit (analytics.fits.fit_unit_run): the free pages one unit leaves are reused by the next
    until they add up, and each trim makes the next units fault their pages in again. Returns whether it trimmed."""
    resident, mark = resident_bytes(), _resident_after_trim[0]
    if resident is not None and mark is not None and resident - mark <= slack_bytes:
        _resident_after_trim[0] = min(mark, resident)
        return False
    return heap_trimmed()


def heap_trimmed() -> bool:
    """Give the heap's free pages back to the operating system (glibc ``malloc_trim(0)``), without the garbage
    collection of :func:`memory_release`. Called after each fit unit (analytics.fits.fit_unit_run): a unit's
    temporaries below the mmap threshold are freed into the heap, and without a trim the next units' allocations
    land beside them, so the free pages of every unit so far added up under the compute stage's peak (at 100,000
    patients the stage's resident set climbed ~110 MB over its frames; trimmed after each unit, the peak is ~25 MB
    lower, for ~3 ms a unit; a full collection each time would cost ~150 ms: issue 17, worker memory). Returns whether
    glibc is there to do it."""
    trim = _libc_function("malloc_trim")
    if trim is None:
        return False
    trim(0)
    _resident_after_trim[0] = resident_bytes()
    return True
