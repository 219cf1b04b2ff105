"""Whole-cohort and stratified views of an analysis frame.

Every computation is reported for the whole cohort (key ``"all"``) and for
each level of each stratification variable (key ``"<variable>=<value>"``,
e.g. ``"modality=RFA"``). Rows whose stratum value is missing belong to
``"all"`` only: a stratum is defined by a known value.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar

import numpy as np
import pandas as pd

from .shared import shared

ALL = "all"
STRATA_VARIABLES: tuple[str, ...] = ("site", "modality", "augmentation", "radiation_sequence", "region")
# False inside ``levels_only()``: iter_strata then skips the whole-cohort "all" view (see levels_only).
_WITH_ALL: ContextVar[bool] = ContextVar("strata_with_all", default=True)


@contextmanager
def levels_only() -> Iterator[None]:
    """Within the block, :func:`iter_strata` (and so every stratified statistic) yields the levels of the
    requested variables only, not ``"all"``.

    The report's fit jobs (analytics.fits) use it to compute one stratification variable's levels without
    recomputing the whole cohort, which its own job computes once; every per-stratum result depends on
    that stratum's rows only, so the union of the jobs equals one call over all strata.
    """
    token = _WITH_ALL.set(False)
    try:
        yield
    finally:
        _WITH_ALL.reset(token)


def whole_cohort_included() -> bool:
    """False inside :func:`levels_only` (the "all" stratum is computed by its own fit unit), else True."""
    return _WITH_ALL.get()


def stratum_key(variable: str, value: object) -> str:
    """``"<variable>=<value>"``."""
    return f"{variable}={value}"


def as_text(values: pd.Series) -> pd.Series:
    """``values.astype(str)`` (object dtype, same index); a categorical's holds one str object per category, not a
    new string per row as its ``astype(str)`` does (~60 bytes a row: issue 17 worker memory). NaN → "nan" as there."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        text = np.append(np.asarray(values.cat.categories.astype(str), dtype=object), "nan")  # code −1 → "nan"
        return pd.Series(text[values.cat.codes.to_numpy()], index=values.index, name=values.name, dtype=object)
    return values.astype(str)


@shared
def has_duplicate_rows(frame: pd.DataFrame, columns: tuple[str, ...]) -> bool:
    """Whether two rows of ``frame`` share the values of ``columns`` (an input check every fit unit makes on the
    same frame: shared within a report's compute stage, analytics.stats.shared)."""
    return bool(frame.duplicated(list(columns)).any())


def require_columns(frame: pd.DataFrame, columns: Iterable[str], *, name: str) -> None:
    """Raise ValueError naming the columns of the input contract that are absent."""
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"{name} frame lacks column(s): {', '.join(missing)}")


def iter_strata(frame: pd.DataFrame, variables: Sequence[str] = STRATA_VARIABLES) -> Iterator[tuple[str, pd.DataFrame]]:
    """Yield ``("all", frame)`` then ``("<variable>=<value>", sub-frame)``.

    Levels are in sorted order of their string form; variables absent from
    the frame are skipped, so a frame without stratum columns yields "all"
    only. Inside :func:`levels_only` the ``"all"`` view is not yielded.
    """
    if _WITH_ALL.get():
        yield ALL, frame
    for variable in variables:
        if variable not in frame.columns:
            continue
        present = frame[variable].notna()
        known = frame if present.all() else frame[present]  # no copy of the whole frame when nothing is missing
        for value in sorted(known[variable].unique(), key=str):
            yield stratum_key(variable, value), known[known[variable] == value]


def iter_patient_strata(
    patients: pd.DataFrame | None,
    variables: Sequence[str] = STRATA_VARIABLES,
) -> Iterator[tuple[str, set[str] | None]]:
    """Yield ``(key, study_ids)`` per stratum of a patients frame.

    With no patients frame only ``("all", None)`` is yielded; None means "no
    restriction".
    """
    if patients is None:
        if _WITH_ALL.get():
            yield ALL, None
        return
    require_columns(patients, ["study_id"], name="patients")
    for key, sub in iter_strata(patients, variables):
        yield key, set(sub["study_id"])


def restrict(frame: pd.DataFrame, study_ids: set[str] | None) -> pd.DataFrame:
    """Rows of ``frame`` whose study_id is in ``study_ids`` (all when None)."""
    if study_ids is None:
        return frame
    return frame[frame["study_id"].isin(study_ids)]
