"""Shared builders for the analytics tests: a deterministic synthetic registry."""

from __future__ import annotations

import datetime as dt

from trials.seeding.accounts import sites_ensure, system_user
from trials.seeding.writer import seed_patients

ANCHOR = dt.date(2026, 6, 30)


def seeded_registry(patients: int, *, sites: int = 3, seed: int = 1) -> int:
    """Seed ``patients`` synthetic patients (same seed and anchor → identical data)."""
    return seed_patients(sites=sites_ensure(sites), patients=patients, seed=seed, anchor=ANCHOR, user=system_user())
