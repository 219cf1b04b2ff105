"""Preparations shared by a report's fit units (issue 17: compute CPU).

A report's compute stage runs each analysis once for the whole cohort and once per stratification variable
(analytics.fits: one *unit* each), and every unit starts by preparing the same inputs the same way: checking
that ``pain`` has one row per patient × visit, classifying the pain response of every follow-up record, building
the propensity covariates… With five variables that is done six times over. Inside :func:`shared_preparations`
a function decorated with :func:`shared` computes its value once per input and hands the same value to every later
call with the same inputs; outside it (a direct call, a test) the decorator does nothing.

"The same inputs" means the same objects (frames are compared by identity, plain values by equality): the analysis
sets are read-only during the compute stage, and the memo holds a reference to each input, so an id is never reused
for another object while the memo lives. A shared value is handed out as is, so a caller must not modify it
(every decorated function says so). The memo is dropped when the block ends: a worker keeps it only for the run
whose frames it holds (analytics.fanout).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, ParamSpec, TypeVar

P = ParamSpec("P")
R = TypeVar("R")
_MEMO: ContextVar[dict[tuple[Any, ...], tuple[tuple[Any, ...], Any]] | None] = ContextVar(
    "analytics_shared_preparations", default=None
)
_PLAIN = (str, int, float, bool, type(None))


@contextmanager
def shared_preparations(memo: dict | None = None) -> Iterator[dict]:
    """Within the block, :func:`shared` functions compute each value once per input. ``memo``: a dict kept by the
    caller to share values across several blocks (a worker's units of one run); default a new one."""
    memo = {} if memo is None else memo
    token = _MEMO.set(memo)
    try:
        yield memo
    finally:
        _MEMO.reset(token)


def _key_part(value: Any) -> Any:
    if isinstance(value, _PLAIN):
        return value
    if isinstance(value, tuple | frozenset) and all(isinstance(v, _PLAIN) for v in value):
        return value
    return ("id", id(value))


def shared(func: Callable[P, R]) -> Callable[P, R]:
    """Decorator: inside :func:`shared_preparations`, ``func(*args, **kwargs)`` is computed once per distinct
    inputs (module doc) and its value returned to every later caller — who must treat it as read-only."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        memo = _MEMO.get()
        if memo is None:
            return func(*args, **kwargs)
        key = (func.__module__, func.__qualname__, *map(_key_part, args), *((k, _key_part(v)) for k, v in sorted(kwargs.items())))
        if key not in memo:
            memo[key] = ((*args, *kwargs.values()), func(*args, **kwargs))  # the inputs are held: ids stay unique
        return memo[key][1]

    return wrapper
