"""Issue 17 (compute CPU): the fit units of one report share their input checks and preparations
(analytics.stats.shared), and sharing never changes a number."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from analytics import fits
from analytics.fits import fit_units, fragments_merge, serial_runner
from analytics.stats.shared import shared, shared_preparations
from tests.analytics.test_fits import frames  # noqa: F401 - the seeded 90-patient analysis sets

calls: list[tuple] = []


@shared
def _prepare(frame: pd.DataFrame, columns: tuple[str, ...], *, scale: float = 1.0) -> float:
    calls.append((id(frame), columns, scale))
    return float(frame[list(columns)].to_numpy().sum()) * scale


@pytest.fixture(autouse=True)
def _no_calls():
    calls.clear()


def test_outside_a_block_every_call_computes():
    frame = pd.DataFrame({"a": [1, 2]})
    assert _prepare(frame, ("a",)) == _prepare(frame, ("a",)) == 3.0
    assert len(calls) == 2


def test_inside_a_block_the_same_inputs_compute_once():
    frame, other = pd.DataFrame({"a": [1, 2]}), pd.DataFrame({"a": [1, 2]})
    with shared_preparations() as memo:
        assert _prepare(frame, ("a",)) == 3.0 and _prepare(frame, ("a",)) == 3.0
        assert _prepare(other, ("a",)) == 3.0  # an equal frame is another input: frames are compared by identity
        assert _prepare(frame, ("a",), scale=2.0) == 6.0  # a plain argument by value
        assert _prepare(frame, ("a",), scale=2.0) == 6.0
    assert [c[1:] for c in calls] == [(("a",), 1.0), (("a",), 1.0), (("a",), 2.0)]
    assert {id(v[0][0]) for v in memo.values()} == {id(frame), id(other)}  # inputs held: their ids are never reused
    _prepare(frame, ("a",))
    assert len(calls) == 4  # the block is over: nothing is shared any more


def test_a_memo_kept_by_the_caller_spans_blocks():
    frame, memo = pd.DataFrame({"a": [5]}), {}
    for _ in range(3):
        with shared_preparations(memo):
            assert _prepare(frame, ("a",)) == 5.0
    assert len(calls) == 1


@pytest.mark.django_db
def test_shared_units_give_the_numbers_of_units_computed_alone(frames, monkeypatch):  # noqa: F811
    """The report's path (every unit inside one shared block) against every unit computed on its own; and the
    pain frame's one-row-per-visit check runs once per frame, not once per unit."""
    sets, params, _ = frames
    units = fit_units(params.strata)
    alone = fragments_merge(units, serial_runner(units, sets, params))
    checked: list[int] = []
    original = pd.DataFrame.duplicated

    def duplicated(self, *args, **kwargs):
        checked.append(id(self))
        return original(self, *args, **kwargs)

    monkeypatch.setattr(pd.DataFrame, "duplicated", duplicated)
    together = fits.fits_compute(sets, params)
    assert json.dumps(together, sort_keys=True) == json.dumps(alone, sort_keys=True)
    assert checked.count(id(sets.pain)) == 1 and checked.count(id(sets.adresp)) == 1
