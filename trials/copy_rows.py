"""Reading a running PostgreSQL ``COPY … TO STDOUT`` row by row at libpq speed (the CSV export, the report's
extraction).

psycopg's own row iterator waits through its generator machinery for every row (1–2 s of CPU for the ~2 million
rows of a 100,000-patient registry). Here a row libpq has already received is taken with
``PGconn.get_copy_data`` (one C call); only when none has arrived does ``copy.read()`` wait for the server (and
finish the COPY if its end comes instead).
"""

from __future__ import annotations

from collections.abc import Iterator

from psycopg import errors as pg_errors
from psycopg import pq


def copy_end(pgconn, encoding: str) -> None:
    """Read the COPY's final results once ``get_copy_data`` has returned -1; the error that ended it is raised after
    every result was read (the connection stays usable for the next statement)."""
    error = None
    while (result := pgconn.get_result()) is not None:
        if result.status != pq.ExecStatus.COMMAND_OK and error is None:
            error = pg_errors.error_from_result(result, encoding=encoding)
    if error is not None:
        raise error


def copy_rows(copy, pgconn, encoding: str) -> Iterator[bytes]:
    """Every row of a running ``COPY … TO STDOUT`` as the bytes the server sent (LF ended).

    ``copy``: psycopg's ``Copy`` of the statement; ``pgconn``: its connection's ``PGconn``; ``encoding``: the
    connection's (for an error message). Raises the server's error if one ended the COPY; an early close leaves the
    ``Copy`` block to cancel and drain it."""
    get = pgconn.get_copy_data
    while True:
        size, row = get(1)  # 1: never blocks; size 0 when no row has arrived yet
        if size == 0:
            row = copy.read()
            if not row:
                return
        elif size < 0:
            copy_end(pgconn, encoding)
            return
        yield row
