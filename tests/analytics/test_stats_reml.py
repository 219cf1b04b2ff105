"""The REML core of the repeated-measures model (analytics/stats/reml.py; issue 17 item 4): the sums accumulated
block by block over an indicator design equal the dense computation the model used before, and the fit's
memory does not grow with the n × p design."""

from __future__ import annotations

import copy
import tracemalloc

import numpy as np
import pandas as pd
import pytest

from analytics.stats.mixed_model import _design, mixed_model_fit
from analytics.stats.reml import DenseDesign, GroupSums, IndicatorDesign, reml_fit, reml_fit_sums

VISITS = ["day3", "week1", "month1", "month3", "month6", "month12"]
SITES = [f"S{i:02d}" for i in range(10)]


def _cohort(patients: int, seed: int = 3) -> pd.DataFrame:
    """Rows of ``mixed_model_frame``'s shape: unbalanced visits (30% missed), ten sites, a patient effect."""
    rng = np.random.default_rng(seed)
    site = rng.integers(0, len(SITES), patients)
    baseline = rng.integers(3, 11, patients).astype(float)
    effect = rng.normal(0, 1.1, patients)
    present = rng.random((patients, len(VISITS))) > 0.3
    patient, visit = np.nonzero(present)
    change = -0.4 * visit - 0.1 * site[patient] + 0.25 * (baseline[patient] - 7) + effect[patient]
    return pd.DataFrame(
        {
            "study_id": np.array([f"P{i:06d}" for i in range(patients)], dtype=object)[patient],
            "visit": np.array(VISITS, dtype=object)[visit],
            "baseline": baseline[patient],
            "change": change + rng.normal(0, 1.0, len(patient)),
            "site": np.array(SITES, dtype=object)[site[patient]],
        }
    )


def _indicator(rows: pd.DataFrame) -> tuple[IndicatorDesign, list[str]]:
    table, names, column = _design("site", VISITS, SITES)
    visit = pd.Categorical(rows["visit"], categories=VISITS).codes.astype(np.intp)
    level = pd.Categorical(rows["site"], categories=SITES).codes.astype(np.intp)
    return IndicatorDesign(table, visit * len(SITES) + level, rows["baseline"].to_numpy(float), column), names


def _dense_x(rows: pd.DataFrame) -> np.ndarray:
    """The n × p design as the model built it before (a reference kept only here)."""
    visit, site = rows["visit"].to_numpy(), rows["site"].to_numpy()
    cells = [(v, s) for v in VISITS[1:] for s in SITES[1:]]
    return np.column_stack(
        [
            np.ones(len(rows)),
            *((visit == v).astype(float) for v in VISITS[1:]),
            *((site == s).astype(float) for s in SITES[1:]),
            rows["baseline"].to_numpy(float),
            *(((visit == v) & (site == s)).astype(float) for v, s in cells),
        ]
    )


def _dense_sums(y: np.ndarray, x: np.ndarray, groups: np.ndarray) -> dict[str, np.ndarray]:
    """The previous one-pass dense sums (per-patient column sums by bincount, then per group size)."""
    codes, _ = pd.factorize(groups)
    count = int(codes.max()) + 1
    sizes = np.bincount(codes, minlength=count)
    sx = np.column_stack([np.bincount(codes, weights=column, minlength=count) for column in x.T])
    sy = np.bincount(codes, weights=y, minlength=count)
    distinct = np.unique(sizes)
    return {
        "sizes": distinct,
        "m": np.array([sx[sizes == k].T @ sx[sizes == k] for k in distinct]),
        "u": np.array([sx[sizes == k].T @ sy[sizes == k] for k in distinct]),
        "w": np.array([float(sy[sizes == k] @ sy[sizes == k]) for k in distinct]),
        "count": np.array([int((sizes == k).sum()) for k in distinct], dtype=float),
        "xtx": x.T @ x,
        "xty": x.T @ y,
        "yty": np.array(float(y @ y)),
    }


def test_indicator_design_rows_are_the_dense_design():
    rows = _cohort(300)
    design, names = _indicator(rows)
    x = _dense_x(rows)
    assert design.p == x.shape[1] == len(names) == 1 + 5 + 9 + 1 + 45
    index = np.arange(len(rows))[::-7]
    np.testing.assert_array_equal(design.rows(index), x[index])


@pytest.mark.parametrize("block_rows", [1, 37, 1000, None])
def test_blockwise_sums_and_fit_equal_the_dense_ones(block_rows):
    rows = _cohort(400).sample(frac=1.0, random_state=1).reset_index(drop=True)  # patients' rows interleaved
    design, _ = _indicator(rows)
    y, groups = rows["change"].to_numpy(float), rows["study_id"].to_numpy()
    sums = GroupSums(y, design, groups, block_rows=block_rows)
    dense = _dense_sums(y, _dense_x(rows), groups)
    np.testing.assert_array_equal(sums.sizes, dense["sizes"])
    for name in ("m", "u", "w", "count", "xtx", "xty", "yty"):
        np.testing.assert_allclose(getattr(sums, name), dense[name], rtol=1e-12, atol=1e-9, err_msg=name)
    reference = copy.copy(sums)  # the same fit from the dense sums
    for name, value in dense.items():
        setattr(reference, name, float(value) if name == "yty" else value)
    ours, theirs = reml_fit_sums(sums), reml_fit_sums(reference)
    assert ours.converged and theirs.converged and ours.tau2 > 0.5
    np.testing.assert_allclose(ours.beta, theirs.beta, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(ours.cov, theirs.cov, rtol=1e-10, atol=1e-14)
    assert ours.tau2 == pytest.approx(theirs.tau2, rel=1e-10)
    assert ours.sigma2 == pytest.approx(theirs.sigma2, rel=1e-10)
    # and the public entry point on a dense matrix gives the same fit
    np.testing.assert_allclose(reml_fit(y, _dense_x(rows), groups).beta, theirs.beta, rtol=1e-10, atol=1e-12)


def test_dense_design_wrapper_reads_rows_by_index():
    x = np.arange(12.0).reshape(4, 3)
    assert DenseDesign(x).p == 3
    np.testing.assert_array_equal(DenseDesign(x).rows(np.array([2, 0])), x[[2, 0]])


def _fit_peak(rows: pd.DataFrame) -> int:
    tracemalloc.start()
    try:
        result = mixed_model_fit(rows, "worst", "site", visits=VISITS)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
        assert result.skipped_reason is None and result.n_observations == len(rows)


def test_fit_memory_does_not_scale_with_the_design():
    """Twice the observations add far less than the n × p float64 design they would have added (61 columns:
    488 bytes per observation); what grows is a few numbers per observation (the rows' codes, y, the order)."""
    small, large = _cohort(6_000), _cohort(12_000)
    _fit_peak(small)  # warm-up: imports and caches
    added = len(large) - len(small)
    growth = _fit_peak(large) - _fit_peak(small)
    design_bytes = added * 61 * 8
    assert growth < design_bytes / 4, f"peak grew {growth / 2**20:.1f} MB for {added} observations"
