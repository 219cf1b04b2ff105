"""The PostgreSQL COPY writer of the CSV export (trials/interop/csv_copy.py): its byte-level shortcuts.

The bytes of whole exports are compared with the Python writer in tests/api/test_export_identical.py (run it
with DATABASE_URL=postgres://… for the COPY path); these tests pin the pieces that make it fast.
"""

from __future__ import annotations

import csv
import io
import sys

import pytest
from psycopg import errors as pg_errors
from psycopg import pq

from trials.interop import csv_copy
from trials.interop.csv_copy import _INNOCENT, FORBIDDEN_UTF8, copy_blocks, finish_block
from trials.services.text import FORBIDDEN, export_text


def test_the_byte_pattern_finds_exactly_the_forbidden_characters_postgresql_can_store():
    # Every code point but NUL and the surrogates (PostgreSQL's UTF-8 text holds neither).
    for code in range(1, sys.maxunicode + 1):
        if 0xD800 <= code <= 0xDFFF:
            continue
        char = chr(code)
        encoded = char.encode()
        forbidden = FORBIDDEN.search(char) is not None
        assert (FORBIDDEN_UTF8.search(encoded) is not None) == forbidden, hex(code)
        if forbidden:
            assert encoded.translate(None, _INNOCENT), hex(code)  # the quick scan never misses one


def _copy_rows(*rows: list) -> list[bytes]:
    """Rows as PostgreSQL's COPY (FORMAT csv) sends them: one message per row, LF at the end."""
    out = []
    for row in rows:
        buffer = io.StringIO()
        csv.writer(buffer, lineterminator="\n").writerow(row)
        out.append(buffer.getvalue().encode())
    return out


def _crlf_block(*rows: list) -> bytearray:
    """Rows as copy_blocks gathers them: each message's final LF made CR LF."""
    return bytearray(b"".join(message[:-1] + b"\r\n" for message in _copy_rows(*rows)))


def _python(rows: list, text_positions: list[int]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    for row in rows:
        writer.writerow([export_text(v) if i in text_positions and isinstance(v, str) else v for i, v in enumerate(row)])
    return buffer.getvalue()


def test_blocks_keep_line_breaks_inside_values_and_replace_controls_in_text_columns_only():
    plain = [["1", "ATL-0001", "ok", ""], ["2", "ATL-0002", "fine", "x"]]
    assert finish_block(_crlf_block(*plain), [1, 2]).decode() == _python(plain, [1, 2])
    broken = [["3", "ATL-0003", 'line\nbreak, "quoted"'], ["4", "ATL-0004", "cr\r\nlf"], ["5", " lead", "\rcr,"]]
    assert finish_block(_crlf_block(*broken), [1, 2]).decode() == _python(broken, [1, 2])
    # A forbidden character anywhere: the whole block is read back and rewritten, every other row unchanged.
    controls = [["5", "bad\x07bell\nnext", "caf\u00e9 \u0085 \uffff"], ["6", "x\x1b", "\u00b0 degree"], *broken, *plain]
    assert finish_block(_crlf_block(*controls), [1]).decode() == _python(controls, [1])  # column 2 is not text: kept
    assert "bad\ufffdbell\nnext" in finish_block(_crlf_block(*controls), [1, 2]).decode()


class _FakeResult:
    def __init__(self, status, message: bytes = b""):
        self.status = status
        self.message = message

    def error_field(self, field):
        return b"22012" if field == pq.DiagnosticField.SQLSTATE else None

    def get_error_message(self, encoding="utf-8"):
        return self.message.decode(encoding)


class _FakeCopy:
    """libpq's side of a COPY as copy_blocks sees it: ``get_copy_data(1)`` answers what has arrived (a row, 0 when
    nothing yet, -1 at the end), ``read()`` stands for psycopg waiting for the next row (b"" at the end)."""

    def __init__(self, script: list, results: list):
        self.script = list(script)
        self.results = list(results)
        self.reads = 0

    def get_copy_data(self, async_):
        assert async_ == 1  # never blocks outside psycopg's wait
        step = self.script.pop(0)
        return (step, b"") if isinstance(step, int) else (len(step), memoryview(step))

    def read(self):
        self.reads += 1
        step = self.script.pop(0)
        return memoryview(b"" if step == -1 else step)

    def get_result(self):
        return self.results.pop(0) if self.results else None


def test_rows_are_taken_as_they_arrive_and_the_end_is_read_by_either_side(monkeypatch):
    monkeypatch.setattr(csv_copy, "ROWS_PER_BLOCK", 2)
    rows = _copy_rows(["1", "a"], ["2", 'b\n"c"'], ["3", "d"])
    # Rows already received, then one that psycopg waits for, then the end read by copy_blocks itself.
    fake = _FakeCopy([rows[0], 0, rows[1], rows[2], -1], [_FakeResult(pq.ExecStatus.COMMAND_OK)])
    blocks = list(copy_blocks(fake, fake, [1], "utf-8"))
    assert blocks == [b'1,a\r\n2,"b\n""c"""\r\n', b"3,d\r\n"] and fake.reads == 1 and not fake.results
    # The end found while psycopg waits: it finishes the COPY; nothing more is read here.
    fake = _FakeCopy([rows[0], 0, -1], [])
    assert list(copy_blocks(fake, fake, [1], "utf-8")) == [b"1,a\r\n"]


def test_an_error_that_ends_the_copy_is_raised():
    failed = _FakeResult(pq.ExecStatus.FATAL_ERROR, b"division by zero")
    fake = _FakeCopy([_copy_rows(["1", "a"])[0], -1], [failed])
    with pytest.raises(pg_errors.DivisionByZero, match="division by zero"):
        list(copy_blocks(fake, fake, [], "utf-8"))
