"""Analysis snapshot: constant query count, voided records excluded, OMED per visit, fingerprint."""

from __future__ import annotations

import datetime as dt
import math

import pandas as pd
import pytest

from analytics.dataset import FRAME_QUERIES, canonical_frame_bytes, snapshot_extract, snapshot_fingerprint
from analytics.derive import visit_omed
from tests.analytics.seeded import seeded_registry
from tests.conftest import require_service
from tests.factories import visit_data
from trials import services
from trials.domain.schedule import VISIT_CODES
from trials.models import AdverseEvent, PainAssessment, SkeletalEvent, Visit

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("patients", [5, 50])
def test_extraction_runs_one_query_per_frame_whatever_the_registry_size(patients, django_assert_num_queries):
    seeded_registry(patients)
    with django_assert_num_queries(len(FRAME_QUERIES)):
        snapshot = snapshot_extract()
    assert len(snapshot.patients) == patients
    assert len(snapshot.visits) == 7 * patients


def test_same_data_gives_the_same_fingerprint():
    seeded_registry(20)
    first, second = snapshot_extract(), snapshot_extract()
    assert snapshot_fingerprint(first) == snapshot_fingerprint(second)
    assert len(snapshot_fingerprint(first)) == 64


def test_fingerprint_ignores_row_and_column_order():
    seeded_registry(10)
    snapshot = snapshot_extract()
    shuffled = snapshot.visits.sample(frac=1, random_state=3)[list(reversed(snapshot.visits.columns))]
    assert canonical_frame_bytes(shuffled) == canonical_frame_bytes(snapshot.visits)


def test_a_clinical_edit_changes_the_fingerprint(data_manager):
    seeded_registry(10)
    before = snapshot_fingerprint(snapshot_extract())
    pain = PainAssessment.objects.filter(worst__lt=10).order_by("pk").first()
    services.clinical_record_update(
        actor=data_manager, instance=pain, changes={"worst": pain.worst + 1}, reason="Transcription error"
    )
    after = snapshot_fingerprint(snapshot_extract())
    assert after != before


def test_an_edit_and_its_reversal_back_to_the_same_value_still_differs_by_version(data_manager):
    """Versions are part of the content: the snapshot says which edit state it used."""
    seeded_registry(5)
    before = snapshot_fingerprint(snapshot_extract())
    pain = PainAssessment.objects.order_by("pk").first()
    services.clinical_record_update(actor=data_manager, instance=pain, changes={"mood": pain.mood}, reason="Re-checked")
    assert snapshot_fingerprint(snapshot_extract()) != before


def test_voided_records_and_children_of_voided_visits_are_excluded(data_manager):
    seeded_registry(60)  # enough patients for an SRE (the generator's SRE hazard depends on cement and SINS, issue 16)
    sre = SkeletalEvent.objects.order_by("pk").first()
    pain = PainAssessment.objects.order_by("pk").last()
    before = snapshot_extract()
    assert sre.patient.study_id in set(before.skeletal_events["study_id"])
    services.clinical_record_void(actor=data_manager, instance=sre, reason="Entered for the wrong patient")
    services.clinical_record_void(actor=data_manager, instance=pain.visit, reason="Visit did not happen")
    after = snapshot_extract()
    assert len(after.skeletal_events) == len(before.skeletal_events) - 1
    key = (pain.visit.patient.study_id, pain.visit.visit_code)
    assert key not in set(zip(after.pain["study_id"], after.pain["visit"], strict=True))
    assert key not in set(zip(after.visits["study_id"], after.visits["visit"], strict=True))


def test_omed_is_the_sum_when_taking_zero_when_none_and_missing_when_unknown(coordinator, patient):
    visits = {v.visit_code: v for v in Visit.objects.filter(patient=patient)}
    day0 = patient.day0
    oxy = {"drug": "oxycodone", "route": "oral", "dose": "10", "unit": "mg", "doses_per_day": "2"}  # 30 MME (CDC example)
    morphine = {"drug": "morphine", "route": "oral", "dose": "15", "unit": "mg", "doses_per_day": "3"}  # 45 MME
    services.visit_record(
        actor=coordinator, visit=visits["baseline"], data=visit_data(day0 - dt.timedelta(days=1), worst=8, meds=[oxy, morphine])
    )
    services.visit_record(
        actor=coordinator, visit=visits["day3"], data=visit_data(day0 + dt.timedelta(days=3), worst=6, opioid_status="none")
    )
    services.visit_record(
        actor=coordinator, visit=visits["week1"], data=visit_data(day0 + dt.timedelta(days=7), worst=5, opioid_status="unknown")
    )
    omed = visit_omed(snapshot_extract()).set_index("visit")["omed"]
    assert omed["baseline"] == pytest.approx(75.0)
    assert omed["day3"] == 0.0
    assert math.isnan(omed["week1"])


def test_copy_and_orm_extraction_give_identical_frames_and_fingerprint(data_manager):
    """PostgreSQL's COPY path (integer patient keys) and the ORM path (SQLite's) give the same typed frames."""
    from django.db import connection

    require_service(connection.vendor == "postgresql", "the COPY path needs PostgreSQL: set DATABASE_URL=postgres://…")
    seeded_registry(40)
    voided = SkeletalEvent.objects.order_by("pk").first() or AdverseEvent.objects.order_by("pk").first()
    assert voided is not None, "the seeded registry has an SRE or an adverse event to void"
    services.clinical_record_void(actor=data_manager, instance=voided, reason="Wrong patient")
    copied, loaded = snapshot_extract(method="copy"), snapshot_extract(method="orm")
    for name, frame in copied.frames().items():
        pd.testing.assert_frame_equal(frame, getattr(loaded, name), check_exact=True, obj=name)
    assert snapshot_fingerprint(copied) == snapshot_fingerprint(loaded)
    assert copied.visits["study_id"].dtype == copied.patients["study_id"].dtype  # one categorical: codes are the key


def test_text_columns_are_categoricals_over_the_sorted_study_ids_and_hash_as_text():
    """The categorical representation does not change the fingerprint: it hashes as the plain text would."""
    seeded_registry(12)
    snapshot = snapshot_extract()
    categories = list(snapshot.patients["study_id"].cat.categories)
    assert categories == sorted(snapshot.patients["study_id"].astype(object))
    assert list(snapshot.visits["visit"].cat.categories[:7]) == list(VISIT_CODES)
    plain = {c: snapshot.visits[c].astype(object) for c in snapshot.visits.columns if snapshot.visits[c].dtype == "category"}
    assert canonical_frame_bytes(snapshot.visits.assign(**plain)) == canonical_frame_bytes(snapshot.visits)


def test_a_copy_is_parsed_as_its_rows_arrive_a_block_at_a_time(monkeypatch):
    """Issue 17 (worker memory): the COPY's rows go to the CSV parser a block at a time, never gathered into one
    buffer first, are parsed into columns a chunk at a time, and the frames are those of the ORM path."""
    from django.db import connection

    from analytics import copy_frames

    require_service(connection.vendor == "postgresql", "the COPY path needs PostgreSQL: set DATABASE_URL=postgres://…")
    seeded_registry(6)
    reads = []
    read = copy_frames.CopyStream.read

    def counted(self, size=-1):
        block = read(self, size)
        reads.append(block.count(b"\n"))
        return block

    monkeypatch.setattr(copy_frames.CopyStream, "ROWS_PER_READ", 5)
    monkeypatch.setattr(copy_frames, "COPY_CHUNK_ROWS", 7)  # parsed 7 rows at a time: categoricals joined across chunks
    monkeypatch.setattr(copy_frames.CopyStream, "read", counted)
    copied = snapshot_extract(method="copy")
    assert max(reads) == 5 and sum(reads) == sum(len(f) for f in copied.frames().values())
    assert sum(1 for rows in reads if rows) >= len(copied.visits) // 5  # the 42 visits came in blocks, not at once
    orm = snapshot_extract(method="orm")
    for name, frame in orm.frames().items():
        pd.testing.assert_frame_equal(copied.frames()[name], frame, obj=name)


def test_a_copy_block_takes_each_row_as_it_arrives():
    """Issue 17 (report CPU): psycopg hands each COPY row as a memoryview over a buffer of its own; the stream copies
    a row into its block before it asks for the next, so the buffer can go at once (here the producer reuses one
    buffer for every row: a block that kept the views until the end would show the last row in every place)."""
    from analytics.copy_frames import CopyStream

    def rows():
        buffer = bytearray(8)
        for number in range(10):
            buffer[:] = f"{number:06d},\n".encode()
            yield memoryview(buffer)

    stream = CopyStream(rows())
    stream.ROWS_PER_READ = 4
    blocks = [stream.read(), stream.read(), stream.read(), stream.read()]
    assert blocks == [
        b"000000,\n000001,\n000002,\n000003,\n",
        b"000004,\n000005,\n000006,\n000007,\n",
        b"000008,\n000009,\n",
        b"",
    ]
    assert all(type(block) is bytes for block in blocks)


def test_an_error_in_the_middle_of_a_copy_is_raised_not_read_as_a_shorter_frame():
    """A COPY the server ends with an error after some rows (here a division by zero at the 30th visit) must fail
    the extraction: a frame silently cut short would give a report on part of the data."""
    from django.db import connection, transaction
    from django.db.models import F, IntegerField, Value
    from django.db.models.functions import Cast
    from psycopg import errors

    from analytics.dataset import copy_frame

    require_service(connection.vendor == "postgresql", "the COPY path needs PostgreSQL: set DATABASE_URL=postgres://…")
    seeded_registry(12)
    visits = Visit.objects.order_by("pk")
    assert visits.count() > 30
    cut = visits[29].pk
    whole = copy_frame(visits.values_list("pk"), ["pk"], {"pk": "integer"})
    assert len(whole) == visits.count()  # rows arriving in many messages are all read
    failing = visits.annotate(x=Value(1) / Cast(F("pk") - cut, IntegerField())).values_list("pk", "x")
    with pytest.raises(errors.DivisionByZero), transaction.atomic():
        copy_frame(failing, ["pk", "x"], {"pk": "integer", "x": "integer"})
    assert Visit.objects.count() == visits.count()  # the connection is usable afterwards (savepoint rolled back)


@pytest.mark.django_db(transaction=True)
def test_the_extraction_transaction_sorts_and_joins_in_memory_and_leaves_work_mem_as_it_was(monkeypatch, settings):
    """Issue 17: the report's snapshot runs with REPORTS_EXTRACT_WORK_MEM (no spill to temporary files at 100,000
    patients), REPEATABLE READ, and only inside its own transaction."""
    from django.db import connection

    from analytics import pipeline

    require_service(connection.vendor == "postgresql", "work_mem is PostgreSQL's: set DATABASE_URL=postgres://…")
    seeded_registry(5)
    seen = {}
    extract = pipeline.snapshot_extract

    def watched():
        with connection.cursor() as cursor:
            cursor.execute("SELECT current_setting('work_mem'), current_setting('transaction_isolation')")
            seen["work_mem"], seen["isolation"] = cursor.fetchone()
        return extract()

    with connection.cursor() as cursor:
        cursor.execute("SHOW work_mem")
        before = cursor.fetchone()[0]
    settings.REPORTS_EXTRACT_WORK_MEM = "48MB"
    monkeypatch.setattr(pipeline, "snapshot_extract", watched)
    snapshot, fingerprint, _ = pipeline._snapshot()
    assert seen == {"work_mem": "48MB", "isolation": "repeatable read"}
    assert len(snapshot.patients) == 5 and fingerprint
    with connection.cursor() as cursor:
        cursor.execute("SHOW work_mem")
        assert cursor.fetchone()[0] == before


def test_bpi_items_and_record_versions_are_held_narrow_and_hash_as_their_64_bit_values():
    """Issue 17 (worker memory): BPI items (0–10) as int8 — float32 when one is missing — and record versions as
    int32; the values are unchanged and the fingerprint is that of the same frame in int64/float64."""
    import numpy as np

    from analytics.dataset import NARROW_INTEGERS, _number_dtype

    seeded_registry(10)
    pain = snapshot_extract().pain
    assert pain["worst"].dtype == np.int8 and pain["version"].dtype == np.int32
    wide = pain.assign(
        **{c: pain[c].astype(np.int64 if pain[c].dtype.kind == "i" else float) for c in pain.columns if c in NARROW_INTEGERS}
    )
    assert canonical_frame_bytes(pain) == canonical_frame_bytes(wide)
    with_missing = pd.Series([0.0, 10.0, np.nan])
    assert _number_dtype(with_missing, np.int8, False) == np.float32
    assert _number_dtype(pd.Series([0, 300]), np.int8, False) == np.int64  # out of range: not narrowed
    assert _number_dtype(pd.Series([0.0, 3e9, np.nan]), np.int32, False) == np.float64
    assert _number_dtype(pd.Series([1.5]), None, True) == np.float64
