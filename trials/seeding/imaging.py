"""Imaging follow-up of the index lesion after a local-control-intent ablation (issue 10, part B).

Drawn from a stream of its own (seeded by the run's seed and the study ID), so adding it left every other generated
value unchanged. Numbers and their sources: ``trials.seeding.profile`` (IMAGING_*, TECHNICAL_SUCCESS, LTP_12M). The
records obey the rules of ``trials.services.imaging`` (docs/domain.md §12): dates from the index procedure to death,
study exit or the anchor date; one first post-procedure imaging per lesion, the earliest; LTP never on it, only with
viable tumour present and after an imaging showed complete ablation, its date the imaging's date.
"""

from __future__ import annotations

import datetime as dt
import math
import random

from trials.models import ImagingAssessment, Patient, Procedure, StudyExit, ViableTumour
from trials.seeding import profile as P

LOCAL_CONTROL = "local_control"


def _weighted(rng: random.Random, mix: dict[str, float]) -> str:
    return rng.choices(list(mix), weights=list(mix.values()))[0]


def _first_finding(rng: random.Random, modality: str) -> str:
    """Viable tumour on the first post-procedure imaging: not evaluable, none (technical success) or present."""
    roll = rng.random()
    if roll < P.IMAGING_NOT_EVALUABLE:
        return ViableTumour.NOT_EVALUABLE
    success = P.TECHNICAL_SUCCESS.get(modality, P.TECHNICAL_SUCCESS["other"])
    return ViableTumour.NONE if roll < P.IMAGING_NOT_EVALUABLE + (1 - P.IMAGING_NOT_EVALUABLE) * success else ViableTumour.PRESENT


def imaging_follow_up(
    *, seed: int, anchor: dt.date, patient: Patient, procedure: Procedure | None, exit_: StudyExit | None
) -> list[ImagingAssessment]:
    """Imaging studies of the index lesion (lesion number 1) of a local-control-intent procedure, in date order;
    none for palliative intent or an untreated patient. The first 4–8 weeks after the ablation, then every ~3
    months until death, study exit or ``anchor``; a lesion with local tumour progression is not imaged further
    here (it is re-treated). LTP time: exponential with P(LTP by 12 months) = LTP_12M of the modality."""
    if procedure is None or procedure.intent != LOCAL_CONTROL:
        return []
    rng = random.Random(f"{seed}:{patient.study_id}:imaging")
    end = min(anchor, exit_.exit_date) if exit_ is not None else anchor
    day0 = procedure.procedure_date
    modality = _weighted(rng, P.IMAGING_MODALITY_MIX)
    ltp_rate = -math.log(1 - P.LTP_12M.get(procedure.modality, P.LTP_12M["other"])) / 365
    ltp_day = rng.expovariate(ltp_rate)
    day = rng.randint(*P.IMAGING_FIRST_DAYS)
    finding = _first_finding(rng, procedure.modality)
    records: list[ImagingAssessment] = []
    complete_seen = False
    while day0 + dt.timedelta(days=day) <= end:
        date = day0 + dt.timedelta(days=day)
        ltp = complete_seen and finding != ViableTumour.PRESENT and day >= ltp_day
        viable = ViableTumour.PRESENT if ltp else finding
        records.append(
            ImagingAssessment(
                patient=patient,
                lesion_instance=1,
                assessment_date=date,
                imaging_modality=modality,
                first_post_procedure=not records,
                viable_tumour=viable,
                local_tumour_progression=ltp,
                ltp_date=date if ltp else None,
            )
        )
        if ltp:
            break
        complete_seen = complete_seen or viable == ViableTumour.NONE
        if finding == ViableTumour.NOT_EVALUABLE:
            finding = ViableTumour.NONE  # the next study shows the ablation zone
        day += rng.randint(*P.IMAGING_INTERVAL_DAYS)
    return records
