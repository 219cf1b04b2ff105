"""A registry snapshot's fingerprint and the registry's data version (split from analytics.dataset, which
re-exports every name here).

``snapshot_fingerprint`` hashes a canonical serialization of every frame, so a report says exactly which data it
used; ``registry_data_version`` is a cheap token (one query over the audit tables) that changes whenever clinical
data change, so a run made at the same token can reuse an earlier run's fingerprint, and
``registry_change_token`` / ``registry_data_version_cached`` make that token cheap on PostgreSQL.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from trials.models import (
    AdverseEvent,
    ImagingAssessment,
    Lesion,
    MedicationUse,
    PainAssessment,
    Patient,
    Procedure,
    RadiationCourse,
    Site,
    SkeletalEvent,
    StudyExit,
    Visit,
)

if TYPE_CHECKING:
    from analytics.dataset import Snapshot

FINGERPRINT_FLOAT_DECIMALS = 6
FINGERPRINT_HASH_KEY = "registrysnapshot"  # pandas requires a 16-character key


def _column_hashes(frame: pd.DataFrame, columns: list[str]) -> Iterator[np.ndarray]:
    """Each column's 64-bit value hashes (``hash_pandas_object`` of the column), one column at a time."""
    for column in columns:
        values = frame[column]
        if (
            isinstance(values.dtype, np.dtype) and values.dtype.kind in "iuf" and values.dtype.itemsize < 8
        ):  # a narrow column (NARROW_INTEGERS) hashes as 64-bit
            values = values.astype(np.int64 if values.dtype.kind in "iu" else float)
        if values.dtype.kind == "f":
            values = values.round(FINGERPRINT_FLOAT_DECIMALS) + 0.0  # +0.0: no -0.0
        yield pd.util.hash_pandas_object(values, index=False, hash_key=FINGERPRINT_HASH_KEY).to_numpy()


def combined_row_hashes(hashes: Iterator[np.ndarray], n_columns: int) -> np.ndarray:
    """The row hashes of a frame from its columns' hashes: the combination ``pd.util.hash_pandas_object`` applies to
    a DataFrame (CPython's tuple hash, tupleobject.c), taking the columns one by one so that only one column's
    hashes exist at a time (issue 17, worker memory: hashing the frame whole held a copy of it and every column's
    hashes, 200 MB at 100,000 patients). ``tests/analytics/test_data_version.py`` holds it equal to pandas'."""
    out: np.ndarray | None = None
    multiplier = np.uint64(1000003)
    for i, column_hashes in enumerate(hashes):
        if out is None:
            out = np.full(len(column_hashes), 0x345678, dtype=np.uint64)
        out ^= column_hashes
        out *= multiplier
        multiplier += np.uint64(82520 + 2 * (n_columns - i))
    if out is None:
        return np.zeros(0, dtype=np.uint64)
    out += np.uint64(97531)
    return out


def canonical_frame_bytes(frame: pd.DataFrame) -> bytes:
    """A canonical digest of the frame's content: the same content always gives the same bytes,
    whatever the row or column order; any changed value, added or removed row changes them.

    Columns are taken sorted by name (the names are part of the bytes); floats are rounded to
    ``FINGERPRINT_FLOAT_DECIMALS``; every row is hashed to 64 bits over its values with pandas'
    stable, keyed ``hash_pandas_object`` (dates as their instants, text as text, missing as
    missing); the row hashes are sorted (a multiset: duplicate rows count) and written out with
    the row count. Vectorised — O(rows) in numpy instead of sorting and formatting text — and a column at a
    time (no copy of the frame).
    """
    columns = sorted(frame.columns)
    header = f"{len(frame)}\n{','.join(map(str, columns))}\n".encode()
    if not columns or frame.empty:
        return header
    row_hashes = combined_row_hashes(_column_hashes(frame, columns), len(columns))
    row_hashes.sort()
    return header + row_hashes.astype("<u8", copy=False).tobytes()


def snapshot_fingerprint(snapshot: Snapshot) -> str:
    """sha256 over every frame's canonical bytes, framed by name and length."""
    digest = hashlib.sha256()
    for name, frame in sorted(snapshot.frames().items()):
        body = canonical_frame_bytes(frame)
        digest.update(f"{name}\n{len(body)}\n".encode())
        digest.update(body)
    return digest.hexdigest()


# Models whose audit history marks every change of the data a snapshot reads.
VERSIONED_MODELS = (
    Site,
    Patient,
    Lesion,
    Procedure,
    RadiationCourse,
    Visit,
    PainAssessment,
    MedicationUse,
    AdverseEvent,
    SkeletalEvent,
    StudyExit,
    ImagingAssessment,
)


def registry_data_version() -> str:
    """A cheap token that changes whenever clinical data change: count and newest id of each audit table.

    Every write (services, the seeder, voiding) appends a history row and
    history is never deleted, so an unchanged token means unchanged data and
    the fingerprint of a run made at that token still holds. The count guards
    against a transaction that committed a lower id after a higher one. One
    query, no extraction: used to reuse runs and flag 'data changed since'.
    """
    from django.db import connection

    tables = [connection.ops.quote_name(m.history.model._meta.db_table) for m in VERSIONED_MODELS]
    parts = [f"(SELECT count(*) || ':' || coalesce(max(history_id), 0) FROM {table})" for table in tables]  # noqa: S608
    with connection.cursor() as cursor:
        cursor.execute("SELECT " + ", ".join(parts))  # noqa: S608 - table names from model metadata
        row = cursor.fetchone()
    return hashlib.sha256(".".join(map(str, row)).encode()).hexdigest()


def registry_change_token() -> str:
    """A token that is cheap on PostgreSQL (no table scan) and changes whenever the clinical data may have changed.

    On PostgreSQL: the newest ``history_id`` of each audit table (an index lookup each) plus the transactions
    in progress in this snapshot (``pg_current_snapshot()``) that are not known to belong to another database.
    Sound: a history row visible now but not at an earlier read was either written by a transaction in progress
    then (its id is in the earlier token and has left the snapshot since) or by one that began writing after the
    earlier snapshot (its ids exceed every id visible then, so a newest id grew). The converse need not hold: a
    transaction of this database that writes nothing clinical changes the token while it runs, which only costs
    a recomputation. Elsewhere (SQLite, a single writer): ``registry_data_version()``.

    Use it as a cache key for aggregates that must equal a fresh computation (the dashboard, the data version).
    """
    from django.db import connection

    if connection.vendor != "postgresql":
        return registry_data_version()
    tables = [connection.ops.quote_name(m.history.model._meta.db_table) for m in VERSIONED_MODELS]
    newest = [f"(SELECT max(history_id) FROM {table})" for table in tables]  # noqa: S608
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT " + ", ".join(newest) + ", pg_current_snapshot()::text, "  # noqa: S608 - names from model metadata
            "ARRAY(SELECT backend_xid::text FROM pg_stat_activity WHERE datname <> current_database()"
            " AND backend_xid IS NOT NULL)"
        )
        *maxima, snapshot, elsewhere = cursor.fetchone()
    _xmin, _xmax, in_progress = snapshot.split(":")
    foreign = set(elsewhere or ())
    ours = sorted(x for x in in_progress.split(",") if x and x not in foreign)
    return "pg:" + ".".join(map(str, maxima)) + ":" + ",".join(ours)


def registry_data_version_cached() -> str:
    """``registry_data_version()`` looked up by ``registry_change_token()``: the same token means the same data,
    so the count of every audit table (a scan of millions of rows at 100,000 patients) is taken once per change."""
    from django.core.cache import cache
    from django.db import connection

    if connection.vendor != "postgresql":
        return registry_data_version()  # the change token is the data version itself there
    return str(cache.get_or_set(f"registry-data-version:{registry_change_token()}", registry_data_version, timeout=24 * 3600))
