"""Enrollment, lesions and the visit schedule."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db import transaction
from django.utils import timezone

from trials import crf
from trials.access import access_for, require_site_write
from trials.domain import schedule
from trials.domain.age import age_years
from trials.domain.eligibility import (
    NEUROLOGICAL_SIGN_LABELS,
    CriterionResult,
    eligibility_check,
    failed,
    neurological_signs_present,
)
from trials.errors import DomainValidationError, ErrorCollector
from trials.models import ClinicalRecord, Lesion, Patient, Region, Site, Visit
from trials.models.patients import PELVIC_BONES
from trials.services.data_query_rules import rules_run_after_commit
from trials.services.records import Rules, check_data_manager_fields, create_record, save_audited, validate


def today(site: Site | None = None) -> dt.date:
    """Today's date at ``site`` (its IANA time zone), or in settings.TIME_ZONE without a site."""
    return site.local_date() if site is not None else timezone.localdate()


def study_id_format(site_code: str, number: int) -> str:
    return f"{site_code}-{number:04d}"


def patient_eligibility(*, patient_data: dict[str, Any], lesion_data: dict[str, Any]) -> list[CriterionResult]:
    """Eligibility per criterion from raw form data (used by the UI before saving)."""
    lesion = Lesion(**{k: v for k, v in lesion_data.items() if k in _LESION_FIELDS})
    enrollment_date = patient_data.get("enrollment_date") or today()
    birth_year = patient_data.get("birth_year")
    return eligibility_check(
        screening_worst_pain=patient_data.get("screening_worst_pain"),
        prior_treatment_of_index_lesion=bool(patient_data.get("prior_treatment_of_index_lesion")),
        region=lesion.region or None,
        sins_total=lesion.sins_total,
        lesion_type=lesion.lesion_type or None,
        mechanical_or_functional_pain=lesion.mechanical_or_functional_pain,
        ecog=patient_data.get("ecog"),
        age=None if birth_year is None else age_years(int(birth_year), enrollment_date.year),
        life_expectancy_over_3_months=bool(patient_data.get("life_expectancy_over_3_months", True)),
        neurological_signs=neurological_signs_present(
            **{k: patient_data[k] for k in NEUROLOGICAL_SIGN_LABELS if k in patient_data}
        ),
    )


_LESION_FIELDS = {f.name for f in Lesion._meta.concrete_fields} - {"id", "patient"}


def patient_rules(patient: Patient, errors: ErrorCollector) -> None:
    """Registration dates in order (consent ≤ enrollment ≤ today; day 0 ≥ enrollment) and ranges (ECOG 0–5, BPI 0–10)."""
    errors.check(
        patient.consent_date <= patient.enrollment_date, "consent_date", "Consent must be on or before the enrollment date."
    )
    errors.check(
        patient.enrollment_date <= today(patient.site), "enrollment_date", "The enrollment date cannot be in the future."
    )
    errors.check(patient.day0 >= patient.enrollment_date, "day0", "The index procedure (day 0) cannot be before enrollment.")
    errors.check(0 <= patient.ecog <= 5, "ecog", "ECOG must be 0–5.")
    errors.check(0 <= patient.screening_worst_pain <= 10, "screening_worst_pain", "BPI worst pain must be 0–10.")
    errors.check(1900 <= patient.birth_year <= today().year, "birth_year", "Birth year must be a past year after 1900.")


def lesion_rules(lesion: Lesion, errors: ErrorCollector) -> None:
    """Location by region (spine: level, no bone; pelvis/peripheral: a bone of that region); SINS/Bilsky only on spine."""
    if lesion.region == Region.SPINE:
        errors.check(bool(lesion.spine_level), "spine_level", "A spine lesion needs its vertebral level (C1–S5).")
        errors.check(not lesion.bone, "bone", "A spine lesion is located by level, not bone.")
    else:
        errors.check(not lesion.spine_level, "spine_level", "Only spine lesions have a vertebral level.")
        errors.check(bool(lesion.bone), "bone", "A pelvic or peripheral lesion needs its bone.")
        if lesion.bone:
            in_pelvis = lesion.bone in PELVIC_BONES
            errors.check(
                in_pelvis == (lesion.region == Region.PELVIS),
                "bone",
                f"Bone {lesion.bone} does not belong to region {lesion.region}.",
            )
        for f in ("sins_pain", "sins_alignment", "sins_collapse", "sins_posterolateral", "bilsky_grade"):
            errors.check(not getattr(lesion, f), f, "SINS and Bilsky apply to spine lesions only.")


def visits_schedule(patient: Patient) -> list[Visit]:
    """Unsaved Visit rows for docs/domain.md §2's default schedule from the patient's day 0."""
    visits = []
    for definition in schedule.DEFAULT_SCHEDULE:
        start, end = definition.window_dates(patient.day0)
        visits.append(
            Visit(
                patient=patient,
                visit_code=definition.code,
                target_date=definition.target_date(patient.day0),
                window_start=start,
                window_end=end,
            )
        )
    return visits


def _next_study_id(site: Site) -> str:
    locked = Site.objects.select_for_update().get(pk=site.pk)
    number = locked.next_patient_number
    if number > 9999:
        raise DomainValidationError({"site": f"Site {locked.code} has used all 9,999 study IDs."})
    locked.next_patient_number = number + 1
    locked.save(update_fields=["next_patient_number"])
    return study_id_format(locked.code, number)


@transaction.atomic
def patient_enroll(
    *,
    actor,
    site: Site,
    patient_data: dict[str, Any],
    lesion_data: dict[str, Any],
    protocol_deviation: str = "",
) -> Patient:
    """Enroll a patient with the index lesion and generate the visit schedule.

    Eligibility is enforced per docs/domain.md §1 with one message per failed
    criterion; a data manager may enroll anyway by recording a protocol deviation.
    """
    require_site_write(actor, site)
    errors = ErrorCollector()
    unknown = set(patient_data) - _PATIENT_INPUT_FIELDS
    for name in sorted(unknown):
        errors.add(name, "Unknown field.")
    for name in sorted(set(lesion_data) - _LESION_FIELDS):
        errors.add(f"lesion.{name}", "Unknown field.")
    check_data_manager_fields(actor, Patient, {"protocol_deviation": protocol_deviation}, errors)
    errors.raise_if_any()
    patient = Patient(site=site, protocol_deviation=protocol_deviation.strip(), study_id="PENDING", **patient_data)
    lesion = Lesion(patient=patient, is_index=True, **lesion_data)
    try:
        _validate_pair(patient, lesion)
    except DomainValidationError as exc:
        for field, messages in exc.errors.items():
            for message in messages:
                errors.add(field, message)
    failures = failed(patient_eligibility(patient_data=patient_data, lesion_data=lesion_data)) if not errors.errors else []
    deviation_allowed = bool(protocol_deviation.strip()) and access_for(actor).is_data_manager
    if failures and not deviation_allowed:
        for r in failures:
            errors.add(r.field, f"Eligibility ({r.code}): {r.message}")
    errors.raise_if_any()
    patient.study_id = _next_study_id(site)
    create_record(patient, actor=actor, rules=patient_rules, reason="Enrollment")
    lesion.patient = patient
    create_record(lesion, actor=actor, rules=lesion_rules, reason="Enrollment: index lesion")
    for visit in visits_schedule(patient):
        save_audited(visit, actor=actor, reason="Visit schedule generated at enrollment")
    rules_run_after_commit(patient)
    return patient


# What enrollment accepts: the registration form's fields (trials.crf).
_PATIENT_INPUT_FIELDS = set(crf.form_of(Patient).entered_fields)
PATIENT_INPUT_FIELDS = frozenset(_PATIENT_INPUT_FIELDS)  # what enrollment accepts (imports check mappings against it)


def _validate_pair(patient: Patient, lesion: Lesion) -> None:
    """Validate patient and lesion together so every error is reported at once."""
    collected: dict[str, list[str]] = {}
    checks: tuple[tuple[str, ClinicalRecord, Rules, set[str]], ...] = (
        ("", patient, patient_rules, {"site", "study_id"}),
        ("lesion.", lesion, lesion_rules, {"patient"}),
    )
    for prefix, obj, rules, exclude in checks:
        try:
            validate(obj, rules, exclude=exclude)
        except DomainValidationError as exc:
            for field, messages in exc.errors.items():
                collected.setdefault(prefix + field, []).extend(messages)
    if collected:
        raise DomainValidationError(collected)


@transaction.atomic
def lesion_add(*, actor, patient: Patient, lesion_data: dict[str, Any]) -> Lesion:
    """Record an additional (non-index) treated lesion."""
    require_site_write(actor, patient.site_id)
    lesion = create_record(
        Lesion(patient=patient, is_index=False, **lesion_data), actor=actor, rules=lesion_rules, reason="Additional lesion"
    )
    rules_run_after_commit(patient)
    return lesion


@transaction.atomic
def patient_reschedule(*, actor, patient: Patient, day0: dt.date, reason: str) -> Patient:
    """Move day 0 (e.g. the procedure happened on another day than planned).

    Visits already holding data keep their data and are re-flagged for window;
    empty visits get new target dates and windows.
    """
    patient = Patient.objects.select_for_update().get(pk=patient.pk)
    if patient.day0 == day0:
        return patient
    patient.day0 = day0
    validate(patient, patient_rules, exclude={"site", "study_id"})
    patient.version += 1
    save_audited(patient, actor=actor, reason=reason)
    visits_realign(actor=actor, patient=patient, reason=reason)
    rules_run_after_commit(patient)
    return patient


def visits_realign(*, actor, patient: Patient, reason: str) -> None:
    """Move every visit's target and window to the patient's day 0; re-flag recorded visits for window."""
    fresh = {v.visit_code: v for v in visits_schedule(patient)}
    for visit in patient.visits.all():
        new = fresh[visit.visit_code]
        if (visit.target_date, visit.window_start, visit.window_end) == (new.target_date, new.window_start, new.window_end):
            continue
        visit.target_date, visit.window_start, visit.window_end = new.target_date, new.window_start, new.window_end
        if visit.visit_date is not None:
            visit.out_of_window = not schedule.is_in_window(visit.visit_date, visit.window_start, visit.window_end)
        visit.version += 1
        save_audited(visit, actor=actor, reason=f"Rescheduled: {reason}")


def patient_after_update(*, before: Patient, after: Patient, actor, reason: str) -> None:
    """A corrected day 0 moves every visit's target and window (``visits_realign``)."""
    if before.day0 != after.day0:
        visits_realign(actor=actor, patient=after, reason=reason)
