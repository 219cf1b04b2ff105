"""The registry data version: a cheap token that changes with every clinical change and with nothing else."""

import pytest

from analytics.dataset import registry_data_version
from analytics.models import ReportRun, RunStatus
from analytics.services import report_run_request
from trials import services

pytestmark = pytest.mark.django_db


def test_data_version_changes_with_each_clinical_write_only(patient, coordinator):
    v1 = registry_data_version()
    assert registry_data_version() == v1  # reading changes nothing
    services.clinical_record_update(actor=coordinator, instance=patient, changes={"ecog": 2}, reason="Re-assessed")
    v2 = registry_data_version()
    assert v2 != v1
    lesion = patient.lesions.first()
    services.clinical_record_void(actor=coordinator, instance=lesion, reason="Duplicate entry")
    assert registry_data_version() not in (v1, v2)


def test_reuse_is_decided_without_extracting_the_snapshot(
    patient, investigator, coordinator, django_assert_max_num_queries, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):  # the eager task runs on commit
        run, reused = report_run_request(actor=investigator, parameters={"strata": ["modality"]})
    run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED and not reused and run.data_version == registry_data_version()
    with django_assert_max_num_queries(4):  # memberships, data version, the reuse lookup — no frame queries
        again, reused = report_run_request(actor=investigator, parameters={"strata": ["modality"]})
    assert reused and again.pk == run.pk
    services.clinical_record_update(actor=coordinator, instance=patient, changes={"ecog": 0}, reason="Re-assessed")
    fresh, reused = report_run_request(actor=investigator, parameters={"strata": ["modality"]})
    assert not reused and fresh.pk != run.pk and ReportRun.objects.count() == 2


def _frame_hash_bytes_of_pandas(frame):
    """The canonical bytes as pandas hashes a whole frame (the fingerprint's original, copying implementation)."""
    import numpy as np
    import pandas as pd

    from analytics.data_version import FINGERPRINT_FLOAT_DECIMALS, FINGERPRINT_HASH_KEY

    columns = sorted(frame.columns)
    ordered = frame[columns]
    floats = [c for c in columns if ordered[c].dtype.kind == "f"]
    ordered = ordered.assign(**{c: ordered[c].round(FINGERPRINT_FLOAT_DECIMALS) + 0.0 for c in floats})
    hashes = pd.util.hash_pandas_object(ordered, index=False, hash_key=FINGERPRINT_HASH_KEY).to_numpy()
    return f"{len(frame)}\n{','.join(columns)}\n".encode() + np.sort(hashes).astype("<u8").tobytes()


def test_the_frame_digest_hashes_column_by_column_to_the_bytes_pandas_gives_for_the_whole_frame():
    """Issue 17 (worker memory): the fingerprint hashes one column at a time instead of copying the frame; the bytes —
    and so every stored fingerprint and the reuse of a run by data version — are those of pandas' whole-frame hash."""
    import numpy as np
    import pandas as pd

    from analytics.data_version import canonical_frame_bytes

    rng = np.random.default_rng(17)
    n = 5000
    frame = pd.DataFrame(
        {
            "version": rng.integers(1, 9, n),
            "negative": rng.integers(-5, 5, n),
            "mme_per_day": np.where(rng.random(n) < 0.1, np.nan, rng.random(n) * 100 - 0.0000004),
            "zero": np.where(rng.random(n) < 0.5, -0.0, 0.0),
            "study_id": pd.Categorical(rng.choice(["ATL-0001", "BOS-0002", "CHI-0003"], n)),
            "note": np.where(rng.random(n) < 0.2, None, rng.choice(["a", "é", "c"], n)).astype(object),
            "visit_date": pd.to_datetime(np.where(rng.random(n) < 0.1, None, "2026-01-05")),
            "reviewed": rng.random(n) < 0.5,
        }
    )
    assert canonical_frame_bytes(frame) == _frame_hash_bytes_of_pandas(frame)
    one = frame[["version"]]
    assert canonical_frame_bytes(one) == _frame_hash_bytes_of_pandas(one)
    changed = frame.assign(version=frame["version"].where(frame.index != 17, 99))
    assert canonical_frame_bytes(changed) != canonical_frame_bytes(frame)
