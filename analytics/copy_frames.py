"""PostgreSQL ``COPY … TO STDOUT`` into pandas, for the report's extraction (split from analytics.dataset, which
re-exports ``copy_frame``, ``copy_statement`` and ``epoch_days_to_datetime``).

The rows are parsed as they arrive (:class:`CopyStream`) and a chunk at a time (``COPY_CHUNK_ROWS``), so a frame
costs one parsed copy of its data plus a chunk (issue 17, worker memory).
"""

from __future__ import annotations

import io
import time
from collections.abc import Iterator
from itertools import chain, islice
from typing import Any

import numpy as np
import pandas as pd
from django.db import connection
from django.db.models import QuerySet
from pandas.api.types import union_categoricals

from trials.copy_rows import copy_rows

COPY_NULL = r"\N"  # COPY's NULL marker in the CSV stream (an empty field is an empty string)


def epoch_days_to_datetime(days: pd.Series) -> pd.Series:
    """Day numbers since 1970-01-01 (integers; NaN for a missing date) as datetime64[ns] (NaT where missing)."""
    values = pd.to_numeric(days, errors="raise").to_numpy(dtype=float)
    stamps = np.full(len(values), np.datetime64("NaT"), dtype="datetime64[ns]")
    known = ~np.isnan(values)
    stamps[known] = values[known].astype(np.int64).astype("datetime64[D]")
    return pd.Series(stamps, index=days.index, name=days.name)


def copy_statement(queryset: QuerySet) -> str:
    """``COPY (<the queryset's SQL>) TO STDOUT`` as CSV with ``COPY_NULL`` for NULL (PostgreSQL)."""
    sql, params = queryset.query.sql_with_params()
    statement = connection.ops.compose_sql(sql, params)  # type: ignore[attr-defined]  # the psycopg 3 backend's
    return f"COPY ({statement}) TO STDOUT WITH (FORMAT csv, NULL '{COPY_NULL}')"


class CopyStream(io.RawIOBase):
    """A running COPY's rows as a binary stream that pandas' CSV parser reads a block of rows at a time: the
    frame is parsed as the rows arrive, never holding the whole COPY output (issue 17, worker memory: 40 MB of
    CSV text for the visits of 100,000 patients). ``rows``: the iterator of :func:`trials.copy_rows.copy_rows`;
    an error it raises (the server ending the COPY with one) propagates out of ``read_csv``.

    Each row is copied into the block as it arrives, so its buffer is released before the next is read: psycopg
    hands a row as a memoryview over the buffer libpq allocated for it, and keeping a block's 4,096 of them alive
    until one ``join`` cost ~1.2 µs a row (2 s of CPU for the 2 million rows at 100,000 patients, five times the
    COPY's own reading; issue 17, report CPU)."""

    ROWS_PER_READ = 4096  # ~200 kB a read: the size of pandas' own read requests (262,144 bytes)

    def __init__(self, rows: Iterator[bytes]):
        super().__init__()
        self._rows = rows

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:  # noqa: ARG002 - a block of whole rows, whatever was asked
        block = bytearray()
        for row in islice(self._rows, self.ROWS_PER_READ):
            block += row  # each row's buffer is released as soon as it is copied (module doc)
        return bytes(block)


COPY_CHUNK_ROWS = 65_536  # rows the CSV parser turns into columns at a time


def _column_parts(chunk: pd.DataFrame, column: str) -> Any:
    """One column of a parsed chunk, independent of the chunk's consolidated blocks (which can then be freed)."""
    values = chunk[column]
    return values.array if isinstance(values.dtype, pd.CategoricalDtype) else values.to_numpy(copy=True)


def _joined(parts: list[Any]) -> Any:
    """A column's chunks as one array (categoricals: the union of their categories, as pandas' own parser does)."""
    if isinstance(parts[0], pd.Categorical):
        return union_categoricals(parts) if len(parts) > 1 else parts[0]
    return np.concatenate(parts) if len(parts) > 1 else parts[0]


def copy_frame(queryset: QuerySet, columns: list[str], types: dict[str, str]) -> pd.DataFrame:
    """One ``COPY … TO STDOUT`` into a DataFrame (pandas' C CSV parser, reading the rows as they arrive); text read
    as categoricals. Raises the server's error when one ends the COPY (never a frame cut short).

    Memory (issue 17): the rows are parsed ``COPY_CHUNK_ROWS`` at a time and each chunk's columns kept apart, then
    joined column by column — one parsed copy of the data plus a chunk, where a whole-frame ``read_csv`` holds its
    chunk arrays, their concatenation and the consolidated frame at once (156 MB at 100,000 patients)."""
    statement, started = copy_statement(queryset), time.perf_counter()
    dtypes = {c: ("category" if t == "text" else str if t in ("date", "boolean") else None) for c, t in types.items()}
    with connection.cursor() as wrapper, wrapper.cursor.copy(statement) as copy:
        rows = copy_rows(copy, wrapper.cursor.connection.pgconn, wrapper.cursor.connection.info.encoding)
        first = next(rows, None)
        if first is None:
            frame = pd.DataFrame({c: pd.Series(dtype=object) for c in columns})
        else:
            parts: dict[str, list[Any]] = {c: [] for c in columns}
            reader = pd.read_csv(
                CopyStream(chain((first,), rows)),
                header=None,
                names=columns,
                dtype={c: t for c, t in dtypes.items() if t is not None},
                keep_default_na=False,
                na_values=[COPY_NULL],
                # decimals parsed correctly rounded (Python's strtod, as the ORM path's float(Decimal)); whole numbers,
                # the other columns (with a NULL, as float64), are exact either way and the default parser is faster
                float_precision="round_trip" if "float" in types.values() else None,
                chunksize=COPY_CHUNK_ROWS,
            )
            with reader:
                for chunk in reader:
                    for column in columns:
                        parts[column].append(_column_parts(chunk, column))
                    del chunk
            frame = pd.DataFrame({c: _joined(parts.pop(c)) for c in columns}, columns=columns, copy=False)
    if connection.queries_logged:  # COPY bypasses Django's cursor wrapper: count it like any query
        connection.queries_log.append({"sql": statement, "time": f"{time.perf_counter() - started:.3f}"})
    return frame
