"""Scoring methods of questionnaire items, shared by the coordinator's form and the patient's questionnaire.

A scoring rule is data (an instrument's ``scoring`` entry, docs/pro.md): a method named here, the items it reads and
its threshold. ``trials.domain.bpi.interference_score`` (the coordinator's form, the API, the report) and
``pro.scoring.score`` (the patient's answers) both call ``apply`` with the BPI definition's rule, so the two can
never disagree.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable


def mean_of_answered(values: Iterable[float | None], *, min_answered: int = 1) -> float | None:
    """Mean of the answered (non-None) values when at least ``min_answered`` are answered, else None (missing).

    BPI interference: 7 items, ``min_answered`` 4 (Cleeland, BPI User Guide 2009)."""
    answered = [float(v) for v in values if v is not None]
    if not answered or len(answered) < min_answered:
        return None
    return sum(answered) / len(answered)


def sum_of_answered(values: Iterable[float | None], *, min_answered: int = 1) -> float | None:
    """Sum of the answered values when at least ``min_answered`` are answered, else None."""
    answered = [float(v) for v in values if v is not None]
    if not answered or len(answered) < min_answered:
        return None
    return sum(answered)


def value(values: Iterable[float | None], *, min_answered: int = 1) -> float | None:  # noqa: ARG001 - same signature
    """The single item's value (a rule that reports one item as a score)."""
    first = next(iter(values), None)
    return None if first is None else float(first)


METHODS: dict[str, Callable[..., float | None]] = {
    "mean_of_answered": mean_of_answered,
    "sum_of_answered": sum_of_answered,
    "value": value,
}


def apply(rule: dict, answers: dict) -> float | None:
    """One scoring rule (``{"method", "items", "min_answered"?}``) applied to ``{item: value}`` answers.

    Raises ``KeyError`` for an unknown method (definitions are validated against the schema's method list)."""
    method = METHODS[rule["method"]]
    return method((answers.get(item) for item in rule["items"]), min_answered=rule.get("min_answered", 1))
