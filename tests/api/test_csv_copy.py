"""The PostgreSQL COPY writer of the CSV export (trials/interop/csv_copy.py): its byte-level shortcuts.

The bytes of whole exports are compared with the Python writer in tests/api/test_export_identical.py (run it
with DATABASE_URL=postgres://… for the COPY path); these tests pin the pieces that make it fast.
"""

from __future__ import annotations

import csv
import io
import sys

from trials.interop.csv_copy import _INNOCENT, FORBIDDEN_UTF8, _block
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


def _python(rows: list, text_positions: list[int]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    for row in rows:
        writer.writerow([export_text(v) if i in text_positions and isinstance(v, str) else v for i, v in enumerate(row)])
    return buffer.getvalue()


def test_blocks_end_rows_with_crlf_keep_line_breaks_inside_values_and_replace_controls_in_text_columns():
    plain = [["1", "ATL-0001", "ok"], ["2", "ATL-0002", "fine"]]
    assert _block(_copy_rows(*plain), [1, 2]) == _python(plain, [1, 2])
    broken = [["3", "ATL-0003", 'line\nbreak, "quoted"'], ["4", "ATL-0004", "cr\r\nlf"]]
    assert _block(_copy_rows(*broken), [1, 2]) == _python(broken, [1, 2])
    controls = [["5", "bad\x07bell\nnext", "caf\u00e9 \u0085 \uffff"], ["6", "x\x1b", "\u00b0 degree"]]
    assert _block(_copy_rows(*controls), [1]) == _python(controls, [1])  # column 2 is not a text column: kept
    assert "bad\ufffdbell\nnext" in _block(_copy_rows(*controls), [1, 2])
