"""Bulk writer for generated patients: chunked bulk_create with an audit row per record."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.utils import timezone
from simple_history.utils import bulk_create_with_history

from trials.models import (
    AdverseEvent,
    ImagingAssessment,
    Lesion,
    MedicationUse,
    PainAssessment,
    Patient,
    Procedure,
    RadiationCourse,
    Site,
    SkeletalEvent,
    StudyExit,
    Visit,
)
from trials.seeding.copy_writer import copy_insert_with_history
from trials.seeding.generator import PatientGenerator, PatientPlan
from trials.services.patients import study_id_format

SEED_REASON = "Synthetic registry (seed_registry)"


def _stamp(objs: list, user) -> list:
    now = timezone.now()
    for obj in objs:
        obj.created_by = obj.updated_by = user
        obj.created_at = obj.updated_at = now
    return objs


def _bulk(model, objs: list, user) -> None:
    if not objs:
        return
    if connection.vendor == "postgresql":
        copy_insert_with_history(model, _stamp(objs, user), user=user, reason=SEED_REASON)
    else:
        bulk_create_with_history(_stamp(objs, user), model, batch_size=2000, default_user=user, default_change_reason=SEED_REASON)


def _numbered(objs: list, parent: str) -> list:
    """Stable repeat keys for bulk rows (``save_audited`` is bypassed here): 1, 2, … per parent, in list order."""
    counts: dict[int, int] = {}
    for obj in objs:
        key = id(getattr(obj, parent))
        counts[key] = counts.get(key, 0) + 1
        obj.repeat_instance = counts[key]
    return objs


def write_chunk(plans: list[PatientPlan], user) -> None:
    """One transaction per chunk: a chunk is written whole or not at all."""
    with transaction.atomic():
        _bulk(Patient, [p.patient for p in plans], user)
        for plan in plans:  # re-point children at the now-saved parents
            plan.lesion.patient = plan.patient
        _bulk(Lesion, _numbered([p.lesion for p in plans], "patient"), user)
        procedures = [p.procedure for p in plans if p.procedure]
        _bulk(Procedure, procedures, user)
        Procedure.lesions.through.objects.bulk_create(
            [Procedure.lesions.through(procedure_id=p.procedure.pk, lesion_id=p.lesion.pk) for p in plans if p.procedure]
        )
        _bulk(RadiationCourse, _numbered([p.radiation for p in plans if p.radiation], "patient"), user)
        _bulk(Visit, [v for p in plans for v in p.visits], user)
        _bulk(PainAssessment, [x for p in plans for x in p.pains], user)
        _bulk(MedicationUse, _numbered([x for p in plans for x in p.medications], "visit"), user)
        _bulk(AdverseEvent, _numbered([x for p in plans for x in p.adverse_events], "patient"), user)
        _bulk(SkeletalEvent, _numbered([x for p in plans for x in p.skeletal_events], "patient"), user)
        _bulk(StudyExit, [p.exit for p in plans if p.exit], user)
        _bulk(ImagingAssessment, _numbered([x for p in plans for x in p.imaging], "patient"), user)


def seed_patients(
    *,
    sites: list[Site],
    patients: int,
    seed: int,
    anchor: dt.date,
    user=None,
    chunk_size: int = 1000,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Generate and write ``patients`` patients spread evenly over ``sites``; returns the count written."""
    user = user or get_user_model().objects.filter(is_superuser=True).first()
    generator = PatientGenerator(seed=seed, anchor=anchor)
    counters = {s.pk: s.next_patient_number for s in sites}
    chunk: list[PatientPlan] = []
    for i in range(patients):
        site = sites[i % len(sites)]
        number = counters[site.pk]
        counters[site.pk] += 1
        chunk.append(generator.patient(site, study_id_format(site.code, number)))
        if len(chunk) >= chunk_size:
            write_chunk(chunk, user)
            if progress:
                progress(len(chunk))
            chunk = []
    if chunk:
        write_chunk(chunk, user)
        if progress:
            progress(len(chunk))
    for site in sites:
        Site.objects.filter(pk=site.pk).update(next_patient_number=counters[site.pk])
    return patients
