"""The streaming CSV export written by PostgreSQL: ``COPY (SELECT …) TO STDOUT``, the same bytes as ``csv.writer``.

``trials.api.exports`` streams each table as CSV. Producing the text row by row in Python (``csv.writer`` over
``values_list`` rows) cost 3–8× a plain ``COPY`` of the same columns at 100,000 patients (issue 17 item 7); here
PostgreSQL formats every cell and Python only appends whole rows to blocks. The bytes are those of the Python
writer (``tests/api/test_export_identical.py`` compares them), because each cell is the text ``str()`` gives
for the value the Python path writes, and PostgreSQL's CSV quoting equals ``csv.writer``'s QUOTE_MINIMAL:

* quoting — both quote a value holding a comma, a double quote, CR or LF and double the quotes inside; the only
  difference, ``""`` for an empty string (PostgreSQL tells it from NULL), is removed by sending ``NULL`` for
  ``''`` (``csv.writer`` writes both as nothing). Only text can hold those characters: integers, dates,
  decimals and booleans are printed as they are, with no per-cell test;
* row ends — ``COPY`` ends each row with LF, ``csv.writer`` with CR LF, and each ``COPY`` message is one row, so
  the last byte of each message becomes CR LF (a line break inside a quoted value stays as it is, as in Python).
  The messages are taken from libpq as they arrive (``PGconn.get_copy_data``: one C call per row, no Python
  generator) and appended to one ``bytearray`` per block, which is streamed as bytes (nothing decoded);
* values — booleans as ``True``/``False``; timestamps other than the ones the Python path already casts to
  text as ``str(datetime)`` (``2026-01-01 10:00:00+00:00``, ``.ffffff`` only when non-zero), one ``to_char`` in
  UTC; dates, integers and decimals (at most 2 places: no exponent) print the same in both;
* spreadsheet safety (``trials.services.text.spreadsheet_text``, text columns only) — a value starting with
  ``= + - @`` tab or CR gets its apostrophe in SQL (a first character above ``@``, a letter or any non-ASCII one,
  is settled by one comparison of its code); the forbidden control characters are so rare that a block holding
  one (found by a byte search of the UTF-8 block) is read back and rewritten by ``csv``, the rest pass untouched;
* missing-data codes, sponsor columns — merged and de-identified in SQL as ``trials.interop.tabular`` does in
  Python: ``COALESCE(item, code)``, days from day 0, age with ``90+`` (``trials.domain.age``), ``voided``.

PostgreSQL only; SQLite keeps the Python writer.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass

from django.db import connection
from django.db.models import BooleanField, CharField, DateTimeField, TextField

from trials.copy_rows import copy_rows
from trials.domain.age import AGE_TOP_CATEGORY
from trials.interop.tabular import (
    TIMESTAMPS,
    ExportSpec,
    field_of,
    sponsor_columns,
    sponsor_header,
    staff_header,
    text_column_indexes,
)
from trials.services.text import FORMULA_TRIGGERS, export_text

ROWS_PER_BLOCK = 2000
# trials.services.text.FORBIDDEN as UTF-8 bytes, for the characters PostgreSQL can store (no NUL, no surrogate):
# C0 controls but tab, LF and CR; DEL and the C1 controls (U+0080–U+009F, lead byte C2); U+FFFE and U+FFFF.
FORBIDDEN_UTF8 = re.compile(rb"[\x01-\x08\x0b\x0c\x0e-\x1f\x7f]|\xc2[\x80-\x9f]|\xef\xbf[\xbe\xbf]")
# Every byte but those that can start a FORBIDDEN_UTF8 match: ``block.translate(None, _INNOCENT)`` keeps only the
# latter, a C-speed scan; the regular expression (40× slower) runs only on the rare block that has one.
_INNOCENT = bytes(b for b in range(256) if not (1 <= b <= 8 or b in (0x0B, 0x0C, 0x7F, 0xC2, 0xEF) or 0x0E <= b <= 0x1F))
_TRIGGER_CODES = ", ".join(str(ord(char)) for char in FORMULA_TRIGGERS)
_LAST_TRIGGER = max(ord(char) for char in FORMULA_TRIGGERS)  # 64, "@": a first character above it is no trigger


@dataclass(frozen=True)
class CopyQuery:
    header: list[str]
    sql: str
    params: tuple
    text_positions: list[int]  # output columns that pass spreadsheet_text


def _literal(key: str) -> str:
    """A JSON key (a form field's name) as an SQL string literal."""
    if not key.isidentifier():
        raise ValueError(f"not a field name: {key!r}")
    return f"'{key}'"


def _python_timestamp(ref: str) -> str:
    """SQL for ``str(value)`` of an aware datetime in UTC (``YYYY-MM-DD HH:MM:SS[.ffffff]+00:00``; NULL stays NULL):
    one ``to_char`` with the six digits of the microseconds, ``.000000`` then dropped as ``str`` drops it."""
    return f"replace(to_char({ref} AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US\"+00:00\"'), '.000000+', '+')"


def _spreadsheet_sql(value: str) -> str:
    """SQL of a stored-text cell as ``spreadsheet_text`` begins it: an apostrophe before a formula trigger, and NULL
    for ``''`` (``ascii('')`` is 0; PostgreSQL stores no NUL). A first character whose code is above the last
    trigger's (``@``, 64: letters, most punctuation, any non-ASCII) is settled by that one comparison."""
    first = f"ascii({value})"
    return (
        f"CASE WHEN {first} > {_LAST_TRIGGER} THEN {value} WHEN {first} IN ({_TRIGGER_CODES}) THEN '''' || {value} "
        f"WHEN {first} = 0 THEN NULL ELSE {value} END"
    )


def _cell(spec: ExportSpec, column: str, ref: str, code: str | None, *, sponsor: bool, text: bool, day0: str, enrolled: str):
    """SQL of one output cell from its raw column ``ref`` (and its missing-data code column ``code``, if coded)."""
    field = field_of(spec.model, column)
    if column == "voided_at":
        return f"CASE WHEN {ref} IS NULL THEN 'False' ELSE 'True' END"
    if sponsor and column in spec.dates:
        return f"({ref} - {day0})"
    if sponsor and column == "birth_year":
        age = f"(EXTRACT(YEAR FROM {enrolled})::integer - {ref})"
        return f"CASE WHEN {age} >= {AGE_TOP_CATEGORY} THEN '{AGE_TOP_CATEGORY}+' ELSE {age}::text END"
    is_text = isinstance(field, CharField | TextField)
    if isinstance(field, BooleanField):
        value = f"CASE WHEN {ref} THEN 'True' WHEN NOT {ref} THEN 'False' END"
    elif isinstance(field, DateTimeField) and column not in TIMESTAMPS:
        value = _python_timestamp(ref)
    elif code is not None and not is_text:
        value = f"{ref}::text"  # COALESCE with the code's text
    else:
        value = ref  # dates, timestamps cast to text by the Python path, decimals: PostgreSQL prints str(value)
    if code is not None:
        # Looked up only when the item is empty; an empty code is NULL too (csv.writer writes None and '' alike).
        value = f"COALESCE({value}, NULLIF({code}, ''))"
    if text:
        return _spreadsheet_sql(value)  # NULL for '' there too
    if is_text:
        value = f"NULLIF({value}, '')"
    return value


def copy_query(spec: ExportSpec, queryset, *, sponsor: bool) -> CopyQuery:
    """The header and the ``SELECT`` whose rows, as ``COPY … (FORMAT csv)``, are the export's rows.

    ``queryset``: the scoped rows of ``spec.model``. The raw columns are selected by the ORM (joins, scope), and an
    outer ``SELECT`` over them formats each cell (module docstring)."""
    columns = sponsor_columns(spec) if sponsor else list(spec.columns)
    header = sponsor_header(spec, columns) if sponsor else staff_header(spec)
    coded = [c for c in columns if c in spec.coded]
    extra = [spec.day0] if sponsor and spec.day0 else []
    if sponsor and "birth_year" in columns:
        extra.append("enrollment_date")
    codes = [spec.codes] if coded else []
    # Every table's first column is its id, printed as it is: the outer query orders by that output column. (Else
    # the id is selected once more as the sort key.)
    key = [] if columns[0] == "id" else ["id"]
    # No ORDER BY inside: the outer query orders by id, and an unordered inner query is merged into it, so PostgreSQL
    # can format the cells in its parallel workers (an ordered one is computed first and formatted by one process).
    raw = queryset.values_list(*columns, *extra, *codes, *key).order_by()
    sql, params = raw.query.sql_with_params()
    names = [f"c{i}" for i in range(len(columns) + len(extra) + len(codes) + len(key))]
    day0 = names[len(columns)] if sponsor and spec.day0 else "NULL"
    enrolled = names[len(columns) + len(extra) - 1] if sponsor and "birth_year" in columns else "NULL"
    # The code of an item is looked up in the JSON only when the item is empty (COALESCE stops at a value).
    code_of = {c: f"({names[len(columns) + len(extra)]} ->> {_literal(c.rsplit('__', 1)[-1])})" for c in coded}
    text = set(text_column_indexes(spec.model, columns))
    cells = [
        _cell(spec, c, names[i], code_of.get(c), sponsor=sponsor, text=i in text, day0=day0, enrolled=enrolled)
        for i, c in enumerate(columns)
    ]
    order_by = names[-1] if key else names[0]
    # Only code-made SQL is pasted (cells from field types, c0…cN, the ORM's compiled query); values are parameters.
    outer = f"SELECT {', '.join(cells)} FROM ({sql}) AS raw ({', '.join(names)}) ORDER BY {order_by}"  # noqa: S608
    return CopyQuery(header, outer, tuple(params), sorted(text))


def _rewrite(block: bytes, text_positions: list[int]) -> bytes:
    """Rows of CSV (CR LF ends) as ``csv.writer`` writes them once the forbidden characters of the text columns are
    replaced (``export_text``): the slow path, for the rare block that holds one. A row ``COPY`` wrote, read back
    by ``csv.reader``, is written by ``csv.writer`` as the same bytes (the same quoting; NULL and ``''`` both
    read as ``''``, both written as nothing), so only the replaced characters change."""
    out = io.StringIO()
    writer = csv.writer(out)
    for values in csv.reader(io.StringIO(block.decode(), newline="")):
        writer.writerow([export_text(v) if i in text_positions else v for i, v in enumerate(values)])
    return out.getvalue().encode()


def _has_forbidden(data: bytes | bytearray) -> bool:
    return bool(data.translate(None, _INNOCENT)) and FORBIDDEN_UTF8.search(data) is not None


def finish_block(block: bytearray, text_positions: list[int]) -> bytes:
    """A block of CSV rows (CR LF ends) ready to send: as it is, or ``_rewrite`` when it holds a forbidden character."""
    return _rewrite(bytes(block), text_positions) if _has_forbidden(block) else bytes(block)


def copy_blocks(copy, pgconn, text_positions: list[int], encoding: str) -> Iterator[bytes]:
    """The rows of a running ``COPY … TO STDOUT (FORMAT csv)``, CR LF ended, in blocks of ``ROWS_PER_BLOCK`` rows.

    ``copy``, ``pgconn``, ``encoding``: as :func:`trials.copy_rows.copy_rows`, which reads the rows at libpq speed
    and raises the error that ended the COPY."""
    block = bytearray()
    rows = 0
    for row in copy_rows(copy, pgconn, encoding):
        block += row
        block[-1] = 13  # the message's final LF, the row's end, becomes CR LF
        block.append(10)
        rows += 1
        if rows == ROWS_PER_BLOCK:
            yield finish_block(block, text_positions)
            block.clear()
            rows = 0
    if block:
        yield finish_block(block, text_positions)


def copy_csv_blocks(spec: ExportSpec, queryset, *, sponsor: bool) -> Iterator[bytes]:
    """The export as UTF-8 CSV in blocks of ``ROWS_PER_BLOCK`` rows: the header, then ``COPY`` of ``copy_query``."""
    query = copy_query(spec, queryset, sponsor=sponsor)
    out = io.StringIO()
    csv.writer(out).writerow(query.header)
    yield out.getvalue().encode()
    with connection.cursor() as cursor:
        psycopg_cursor = cursor.cursor
        with psycopg_cursor.copy(f"COPY ({query.sql}) TO STDOUT WITH (FORMAT csv)", query.params) as copy:
            conn = psycopg_cursor.connection
            yield from copy_blocks(copy, conn.pgconn, query.text_positions, conn.info.encoding)
