"""Scores of a questionnaire response: the instrument's scoring rules (data) applied with
``trials.domain.scoring`` — the functions the coordinator's form uses too (``trials.domain.bpi``)."""

from __future__ import annotations

from trials.domain import scoring


def score(definition: dict, answers: dict) -> dict[str, float | None]:
    """{rule code: score or None} for every scoring rule of ``definition`` (e.g. BPI ``interference``, ``severity``).

    ``answers``: {item code: value}; unanswered items are absent or None. A score below its rule's
    ``min_answered`` is None (missing), never a partial mean."""
    return {rule["code"]: scoring.apply(rule, answers) for rule in definition.get("scoring", [])}
