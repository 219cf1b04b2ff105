"""The streaming CSV export writes the same bytes as the straightforward computation it replaced (issue 17 item 7).

The reference below is the export as it was before it was made faster: plain ``values_list`` rows, the BPI items'
missing-data codes merged in Python, ``spreadsheet_text`` on every text cell, one ``csv.writer``. The export
now merges the codes in SQL and makes each distinct string safe once, and on PostgreSQL is written by the
database (``COPY``, trials/interop/csv_copy.py: run these tests with DATABASE_URL=postgres://… for that path);
the bytes must not change, for staff and sponsors, on a seeded registry with coded items, text that needs
neutralising or quoting, and timestamps.
"""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest
from django.db import connection

from tests.analytics.seeded import seeded_registry
from tests.factories import make_user
from trials.access import scope_queryset
from trials.api import exports as api_exports
from trials.api.exports import export_stream
from trials.interop import csv_copy
from trials.interop.tabular import EXPORTS, sponsor_columns, staff_expression, text_column_indexes
from trials.models import AdverseEvent, PainAssessment, Role, Site, Visit
from trials.services.text import spreadsheet_text

pytestmark = pytest.mark.django_db


def _reference(user, resource: str, *, sponsor: bool) -> str:
    from trials.interop import tabular as exports

    spec = EXPORTS[resource]
    queryset = scope_queryset(user, spec.model.objects.all())
    columns = sponsor_columns(spec) if sponsor else list(spec.columns)
    coded = [(i, c) for i, c in enumerate(columns) if c in spec.coded]
    codes = [exports.KeyTextTransform(c.rsplit("__", 1)[-1], spec.codes) for _, c in coded]
    if sponsor:
        header, rows = exports.sponsor_rows(spec, queryset)  # header and conversions only: rows rebuilt below
        extra = [spec.day0] if spec.day0 else []
        if "birth_year" in columns:
            extra.append("enrollment_date")
        raw = list(queryset.values_list(*columns, *extra, *codes).order_by("id"))
    else:
        header = ["voided" if c == "voided_at" else exports.header_of(c) for c in spec.columns]
        plain = [c if c in spec.coded else staff_expression(spec, c) for c in spec.columns]
        raw = list(queryset.values_list(*plain, *codes).order_by("id"))
        extra = []
    width = len(columns) + len(extra)
    merged = []
    for row in raw:
        values = list(row[:width])
        for k, (index, _) in enumerate(coded):
            if values[index] is None:
                values[index] = row[width + k]
        merged.append(tuple(values))
    if sponsor:
        convert = _sponsor_converter(spec, columns)
        merged = [convert(r) for r in merged]
    text = text_column_indexes(spec.model, columns)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    for row in merged:
        writer.writerow([spreadsheet_text(v) if i in text and isinstance(v, str) else v for i, v in enumerate(row)])
    return out.getvalue()


def _sponsor_converter(spec, columns):
    from trials.domain.age import age_deidentified

    width = len(columns)

    def convert(row):
        values = list(row[:width])
        day0 = row[width] if spec.day0 else None
        for index, column in enumerate(columns):
            value = values[index]
            if column in spec.dates:
                values[index] = None if value is None else (value - day0).days
            elif column == "birth_year":
                values[index] = age_deidentified(row[-1].year, value)
            elif column == "voided_at":
                values[index] = value is not None
        return tuple(values)

    return convert


@pytest.fixture
def seeded(db):
    seeded_registry(40)
    # Items left blank with a code, blank without one, and text a spreadsheet would run as a formula.
    coded = list(PainAssessment.objects.order_by("pk")[:6])
    for n, pain in enumerate(coded):
        PainAssessment.objects.filter(pk=pain.pk).update(worst=None, relief_pct=None)
        codes = {"worst": ["NASK", "UNK", "NA", "ASKU"][n % 4]} if n % 3 else {}
        Visit.objects.filter(pk=pain.visit_id).update(missing_codes=codes)
    missed = Visit.objects.filter(visit_date__isnull=True).order_by("pk")[:3]
    for text, visit in zip(("=HYPERLINK(1)", "+1 phone", "bad\x07bell"), missed, strict=False):
        Visit.objects.filter(pk=visit.pk).update(not_done_reason=text)
    # What the PostgreSQL COPY writer must render exactly as csv.writer does (trials/interop/csv_copy.py): quotes,
    # commas and line breaks inside values, empty strings, a C1 control and U+FFFF, every formula trigger,
    # non-ASCII text, and timestamps printed by str(datetime) with and without microseconds.
    texts = ['say "no", twice', "line\nbreak", "cr\r\nlf", "-2 minus", "@at", "\ttab", "\rcr", "caf\u00e9 \u0085 \uffff", ""]
    for text, visit in zip(texts, Visit.objects.filter(visit_date__isnull=True).order_by("pk")[3:], strict=False):
        Visit.objects.filter(pk=visit.pk).update(not_done_reason=text)
    Site.objects.filter(pk__in=Site.objects.order_by("pk").values("pk")[:1]).update(name='North, "Main" \x1b campus')
    stamps = [dt.datetime(2026, 3, 1, 9, 30, tzinfo=dt.UTC), dt.datetime(2026, 3, 2, 23, 59, 59, 120, tzinfo=dt.UTC)]
    for stamp, visit in zip(stamps, Visit.objects.filter(visit_date__isnull=False).order_by("pk"), strict=False):
        Visit.objects.filter(pk=visit.pk).update(opioid_submitted_at=stamp, opioid_reviewed_at=stamp)
        PainAssessment.objects.filter(visit_id=visit.pk).update(submitted_at=stamp)
    AdverseEvent.objects.filter(pk__in=AdverseEvent.objects.order_by("pk").values("pk")[:2]).update(term='=SUM(A1),\n"x"')


@pytest.mark.parametrize("resource", sorted(EXPORTS))
def test_export_bytes_equal_the_reference_for_staff_and_sponsors(seeded, resource, monkeypatch):
    manager = make_user("dm_export", Role.DATA_MANAGER, None)
    sponsor = make_user("sponsor_export", Role.SPONSOR, None)
    for user, is_sponsor in ((manager, False), (sponsor, True)):
        reference = _reference(user, resource, sponsor=is_sponsor)
        streamed = b"".join(export_stream(user, resource, sponsor=is_sponsor)).decode()
        assert streamed == reference, (resource, is_sponsor)
        # Blocks of 3 rows: most pass untouched, the few holding a forbidden character are rewritten.
        monkeypatch.setattr(csv_copy, "ROWS_PER_BLOCK", 3)
        monkeypatch.setattr(api_exports, "ROWS_PER_BLOCK", 3)
        blocks = list(export_stream(user, resource, sponsor=is_sponsor))
        assert b"".join(blocks).decode() == reference, (resource, is_sponsor, "small blocks")
        rows = len(list(csv.reader(io.StringIO(reference, newline="")))) - 1
        assert all(isinstance(block, bytes) for block in blocks) and len(blocks) >= rows // 3
        monkeypatch.undo()
    if resource == "visits":
        writer = "copy_csv_blocks" if connection.vendor == "postgresql" else "_csv_blocks"  # PostgreSQL writes it
        assert export_stream(manager, "visits", sponsor=False).__name__ == writer
        body = b"".join(export_stream(manager, "visits", sponsor=False)).decode()
        assert "NASK" in body and "'=HYPERLINK(1)" in body and "bad\ufffdbell" in body and "caf\u00e9 \ufffd \ufffd" in body
        assert '"line\nbreak"' in body and "2026-03-02 23:59:59.000120+00:00" in body and "'-2 minus" in body
        assert len(list(csv.reader(io.StringIO(body, newline="")))) == Visit.objects.count() + 1
