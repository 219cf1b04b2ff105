"""Builds one synthetic patient at a time as unsaved model instances.

Every choice comes from a ``random.Random`` seeded by the caller and dates are
relative to an explicit anchor date, so a seed and an anchor give identical
data. The same pure rules as the services are applied: eligibility (§1),
schedule and windows (§2), BPI ranges (§3), MME from the CDC table (§5).
"""

from __future__ import annotations

import datetime as dt
import math
import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TypeVar
from zoneinfo import ZoneInfo

from trials.domain import mme, schedule, sins, sre
from trials.domain.eligibility import eligibility_check, failed
from trials.models import (
    AdverseEvent,
    AnswerSource,
    ImagingAssessment,
    Lesion,
    MedicationUse,
    OpioidStatus,
    PainAssessment,
    Patient,
    Procedure,
    RadiationCourse,
    Site,
    SkeletalEvent,
    StudyExit,
    Visit,
)
from trials.seeding import profile as P
from trials.seeding.imaging import imaging_follow_up

SPINE_BILSKY = ["0", "1a", "1b", "1c", "2"]
PELVIC = ["ilium", "acetabulum", "ischium", "pubis", "sacrum"]
PERIPHERAL = ["femur", "humerus", "tibia", "rib", "scapula", "radius"]
AE_TERMS = [  # term, sir, ctcae, relatedness, serious, weight
    ("Post-procedural pain flare", "mild", 1, "procedure", False, 0.35),
    ("Skin burn at probe site", "mild", 1, "procedure", False, 0.10),
    ("Asymptomatic cement leakage", "mild", 1, "cement_implant", False, 0.15),
    ("Hematoma", "moderate", 2, "procedure", False, 0.12),
    ("Transient radiculopathy", "moderate", 2, "procedure", False, 0.10),
    ("Radiation dermatitis", "mild", 1, "radiation", False, 0.06),
    ("Symptomatic cement embolism", "severe", 3, "cement_implant", True, 0.04),
    ("Nerve injury with motor deficit", "severe", 3, "procedure", True, 0.05),
    ("Infection requiring IV antibiotics", "life_threatening", 4, "procedure", True, 0.03),
]
SRE_TYPES = [
    ("pathologic_fracture", 0.55),
    ("radiation_to_bone", 0.20),
    ("spinal_cord_compression", 0.12),
    ("surgery_to_bone", 0.13),
]


_T = TypeVar("_T")


def weighted(rng: random.Random, mix: Mapping[_T, float]) -> _T:
    """One key of ``mix`` drawn with probability proportional to its value."""
    return rng.choices(list(mix), weights=list(mix.values()))[0]


def hazard_time(rng: random.Random, p12: float, hazard_ratio: float = 1.0) -> float:
    """Exponential event time with a 12-month cumulative probability p12, its hazard multiplied by ``hazard_ratio``
    (one draw from ``rng`` whatever the ratio, so other draws do not move)."""
    rate = -math.log(1 - p12) / 365 * hazard_ratio
    return rng.expovariate(rate)


def cement_probability(modality: str, sins_total: int | None) -> float:
    """P(cement | modality, SINS): the modality's share, its log-odds raised by CEMENT_LOGIT_PER_SINS_POINT per SINS
    point above SINS_REFERENCE for a spine lesion (``sins_total`` None outside the spine; profile, issue 16)."""
    base = P.CEMENT_AFTER_HEAT if modality in ("RFA", "MWA") else P.CEMENT_AFTER_CRYO
    if sins_total is None:
        return base
    logit = math.log(base / (1 - base)) + P.CEMENT_LOGIT_PER_SINS_POINT * (sins_total - P.SINS_REFERENCE)
    return 1 / (1 + math.exp(-logit))


def sre_hazard_ratio(augmentation: str | None, sins_total: int | None) -> float:
    """The SRE hazard relative to a patient without cement at the reference SINS (or outside the spine):
    CEMENT_SRE_HR with cement, SINS_SRE_HR_PER_POINT per SINS point above SINS_REFERENCE (profile, issue 16)."""
    ratio = P.CEMENT_SRE_HR if augmentation == "cement" else 1.0
    if sins_total is not None:
        ratio *= P.SINS_SRE_HR_PER_POINT ** (sins_total - P.SINS_REFERENCE)
    return ratio


@dataclass
class PatientPlan:
    patient: Patient
    lesion: Lesion
    visits: list[Visit] = field(default_factory=list)
    pains: list[PainAssessment] = field(default_factory=list)
    medications: list[MedicationUse] = field(default_factory=list)
    procedure: Procedure | None = None
    radiation: RadiationCourse | None = None
    adverse_events: list[AdverseEvent] = field(default_factory=list)
    skeletal_events: list[SkeletalEvent] = field(default_factory=list)
    exit: StudyExit | None = None
    imaging: list[ImagingAssessment] = field(default_factory=list)


class PatientGenerator:
    def __init__(self, *, seed: int, anchor: dt.date):
        self.seed = seed
        self.rng = random.Random(seed)
        # A separate stream for who answered (issue 15), so adding it left every clinical value of the demo unchanged.
        self.source_rng = random.Random(f"answer-source-{seed}")
        self.anchor = anchor

    def _lesion(self, patient: Patient) -> Lesion:
        rng = self.rng
        region = weighted(rng, P.REGION_MIX)
        lesion = Lesion(patient=patient, is_index=True, region=region, size_mm=rng.randint(12, 60))
        if region == "spine":
            while True:  # eligibility needs SINS ≥ 7 (docs/domain.md §1)
                lesion.spine_level = rng.choice(sins.SPINE_LEVELS[1:])
                lesion.lesion_type = rng.choices(["lytic", "mixed", "blastic"], [0.6, 0.3, 0.1])[0]
                lesion.sins_pain = rng.choices(["mechanical", "occasional", "none"], [0.6, 0.35, 0.05])[0]
                lesion.sins_alignment = rng.choices(["normal", "deformity", "subluxation"], [0.8, 0.15, 0.05])[0]
                lesion.sins_collapse = rng.choice(["gt50", "lt50", "none_gt50_involved", "none"])
                lesion.sins_posterolateral = rng.choice(["none", "unilateral", "bilateral"])
                if (lesion.sins_total or 0) >= 7:
                    break
            lesion.bilsky_grade = rng.choice(SPINE_BILSKY)
            lesion.posterior_wall_involved = rng.random() < 0.3
        else:
            lesion.bone = rng.choice(PELVIC if region == "pelvis" else PERIPHERAL)
            lesion.laterality = rng.choice(["left", "right"]) if lesion.bone != "sacrum" else "midline"
            lesion.lesion_type = "lytic"
            lesion.mechanical_or_functional_pain = True
        return lesion

    def patient(self, site: Site, study_id: str) -> PatientPlan:
        rng = self.rng
        enrollment = self.anchor - dt.timedelta(days=rng.randint(0, P.ENROLLMENT_SPAN_DAYS))
        day0 = enrollment + dt.timedelta(days=rng.randint(0, 10))
        age = max(21, min(90, round(rng.gauss(63, 11))))
        patient = Patient(
            study_id=study_id,
            site=site,
            birth_year=enrollment.year - age,
            sex=rng.choices(["F", "M"], [0.55, 0.45])[0],
            histology=weighted(rng, P.HISTOLOGY_MIX),
            ecog=rng.choices([0, 1, 2], [0.25, 0.5, 0.25])[0],
            consent_date=enrollment - dt.timedelta(days=rng.randint(0, 7)),
            enrollment_date=enrollment,
            day0=day0,
            screening_worst_pain=weighted(rng, P.BASELINE_WORST_PAIN),
            frankel_grade="E",  # eligible patients have no new neurological deficit (docs/domain.md §1)
        )
        plan = PatientPlan(patient=patient, lesion=self._lesion(patient))
        self._current_region = plan.lesion.region
        self._current_sins = plan.lesion.sins_total if plan.lesion.region == "spine" else None
        lesion = plan.lesion
        results = eligibility_check(
            screening_worst_pain=patient.screening_worst_pain,
            prior_treatment_of_index_lesion=False,
            region=lesion.region,
            sins_total=lesion.sins_total,
            lesion_type=lesion.lesion_type,
            mechanical_or_functional_pain=lesion.mechanical_or_functional_pain,
            ecog=patient.ecog,
            age=age,
            life_expectancy_over_3_months=True,
        )
        assert not failed(results), results  # the generator only makes eligible patients
        if day0 <= self.anchor:
            plan.procedure = self._procedure(patient)
        self._radiation(plan)
        self._follow_up(plan)
        plan.imaging = imaging_follow_up(
            seed=self.seed, anchor=self.anchor, patient=patient, procedure=plan.procedure, exit_=plan.exit
        )
        return plan

    def _procedure(self, patient: Patient) -> Procedure:
        rng = self.rng
        modality = weighted(rng, P.MODALITY_MIX)
        cement_p = cement_probability(modality, self._current_sins)
        proc = Procedure(
            patient=patient,
            is_index=True,
            procedure_date=patient.day0,
            modality=modality,
            device={"RFA": "OsteoCool RF", "MWA": "Emprint MW", "cryo": "Visual-ICE"}[modality],
            probes=rng.choice([1, 1, 2, 2, 3]),
            ablation_minutes=Decimal(rng.randint(4, 20)),
            thermal_protection=rng.random() < 0.4,
            neuromonitoring=rng.random() < 0.25,
            anesthesia=rng.choices(["sedation", "general", "local"], [0.6, 0.35, 0.05])[0],
        )
        roll = rng.random()
        if roll < cement_p:
            proc.augmentation = "cement"
            proc.cement_technique = rng.choice(["vertebroplasty", "kyphoplasty"]) if self._is_spine(patient) else "osteoplasty"
            proc.cement_volume_ml = Decimal(rng.randint(20, 80)) / 10
            proc.cement_leakage = rng.random() < 0.15
        elif roll < cement_p + P.IMPLANT_SHARE:
            proc.augmentation = "implant"
            proc.implant_type = rng.choice(["Intramedullary nail", "Percutaneous screw", "Vertebral implant"])
        self._procedure_details(proc, patient)
        return proc

    def _procedure_details(self, proc: Procedure, patient: Patient) -> None:
        """Intent, guidance with its radiation exposure, neuromonitoring and cement fill (issue 10, part B).

        Drawn from a stream of their own (seeded by the run's seed and the study ID), so adding them left
        every other generated value unchanged. Local tumour control is chosen mostly with cryoablation
        (the ablation zone is visible during freezing); cement fills less completely after cryoablation.
        """
        rng = random.Random(f"{self.seed}:{patient.study_id}:procedure-details")
        proc.intent = "local_control" if rng.random() < P.LOCAL_CONTROL_SHARE[proc.modality] else "palliative"
        proc.guidance = weighted(rng, P.GUIDANCE_MIX)
        if proc.guidance in ("fluoroscopy", "cbct", "robotic", "navigation"):
            proc.fluoroscopy_seconds = max(20, round(rng.gauss(*P.FLUOROSCOPY_SECONDS[proc.guidance])))
            proc.radiation_dose, proc.radiation_dose_unit = Decimal(rng.randint(300, 4000)) / 100, "dap_gycm2"
        else:
            proc.radiation_dose, proc.radiation_dose_unit = Decimal(rng.randint(30000, 120000)) / 100, "dlp_mgycm"
        proc.neuromonitoring_type = rng.choice(["sensory", "motor", "both"]) if proc.neuromonitoring else "none"
        if proc.augmentation == "cement":
            proc.cement_fill = weighted(rng, P.CEMENT_FILL_AFTER_CRYO if proc.modality == "cryo" else P.CEMENT_FILL_AFTER_HEAT)

    def _is_spine(self, patient: Patient) -> bool:  # noqa: ARG002 - the plan being built
        return self._current_region == "spine"

    def _radiation(self, plan: PatientPlan) -> None:
        rng = self.rng
        day0 = plan.patient.day0
        dose, fractions, technique, _ = rng.choices(P.RT_SCHEDULES, [s[3] for s in P.RT_SCHEDULES])[0]
        if rng.random() < P.RT_BEFORE_SHARE:
            start, sequence = day0 - dt.timedelta(days=rng.randint(20, 60)), "before"
        else:
            start, sequence = day0 + dt.timedelta(days=rng.randint(7, 28)), "after"
        span = fractions + (fractions // 5) * 2  # weekdays only
        end = start + dt.timedelta(days=max(span - 1, 0))
        if end <= self.anchor and (sequence == "before" or plan.procedure is not None):
            plan.radiation = RadiationCourse(
                patient=plan.patient,
                sequence=sequence,
                start_date=start,
                end_date=end,
                total_dose_gy=dose,
                fractions=fractions,
                technique=technique,
                alpha_beta_gy=Decimal("10"),
            )
        self._rt_window = (start, end)

    def _exit_time(self) -> tuple[str, int] | None:
        """Competing exit times drawn per patient; the earliest within 12 months wins."""
        rng = self.rng
        times = {
            "death": hazard_time(rng, P.DEATH_12M),
            "withdrawal": hazard_time(rng, P.WITHDRAWAL_12M),
            "lost_to_follow_up": hazard_time(rng, P.LTFU_12M),
        }
        kind = min(times, key=lambda k: times[k])
        return (kind, max(3, int(times[kind]))) if times[kind] <= 400 else None

    def _follow_up(self, plan: PatientPlan) -> None:
        rng, patient = self.rng, plan.patient
        day0 = patient.day0
        exit_draw = self._exit_time()
        augmentation = plan.procedure.augmentation if plan.procedure else None
        sre_day = int(hazard_time(rng, P.SRE_12M_REFERENCE, sre_hazard_ratio(augmentation, self._current_sins))) + 1
        ae = rng.random() < P.AE_PATIENT_SHARE
        exit_day = exit_draw[1] if exit_draw else None
        last_observed = (self.anchor - day0).days
        baseline = patient.screening_worst_pain
        regimen = rng.choice(P.OPIOID_REGIMENS) if rng.random() < P.OPIOIDS_AT_BASELINE else None
        dose_level = rng.randrange(len(regimen[3])) if regimen else 0
        per_day = rng.choice(regimen[4]) if regimen else 1
        last_contact = patient.enrollment_date
        for definition in schedule.DEFAULT_SCHEDULE:
            start, end = definition.window_dates(day0)
            visit = Visit(
                patient=patient,
                visit_code=definition.code,
                target_date=definition.target_date(day0),
                window_start=start,
                window_end=end,
            )
            plan.visits.append(visit)
            if plan.procedure is None and definition.code != "baseline":
                continue
            if definition.code == "baseline":
                visit_day = -rng.randint(0, 7)
            else:
                visit_day = definition.target_day + rng.randint(-2, 2) if definition.target_day > 7 else definition.target_day
                if rng.random() < P.OUT_OF_WINDOW:
                    visit_day = definition.window_end + rng.randint(1, 10)
            visit_date = max(day0 + dt.timedelta(days=visit_day), patient.enrollment_date)
            if visit_date > self.anchor or (exit_day is not None and visit_day > exit_day):
                continue
            if definition.code != "baseline" and rng.random() < P.MISSED_VISIT:
                continue
            visit.visit_date = visit_date
            visit.out_of_window = not schedule.is_in_window(visit_date, start, end)
            last_contact = max(last_contact, visit_date)
            worst = (
                baseline
                if definition.code == "baseline"
                else round(baseline + P.WORST_PAIN_CHANGE[definition.code] + rng.gauss(0, P.PAIN_NOISE_SD))
            )
            plan.pains.append(self._pain(visit, max(0, min(10, worst))))
            self._answer_source(visit, plan.pains[-1])
            if definition.code != "baseline" and regimen and rng.random() < P.OPIOID_STOP_BY_VISIT[definition.code]:
                regimen = None
            elif regimen and definition.code != "baseline" and rng.random() < 0.3:
                dose_level = max(0, min(len(regimen[3]) - 1, dose_level + rng.choice([-1, -1, 1])))
            if rng.random() < P.OPIOID_UNKNOWN:
                visit.opioid_status = OpioidStatus.UNKNOWN
            elif regimen is None:
                visit.opioid_status = OpioidStatus.NONE
            else:
                visit.opioid_status = OpioidStatus.TAKING
                plan.medications.append(self._medication(visit, regimen, regimen[3][dose_level], per_day))
        self._events(plan, exit_draw, sre_day, ae, last_observed, last_contact)

    def _answer_source(self, visit: Visit, pain: PainAssessment) -> None:
        """Home visits (day 3, week 1) answered by the patient by link in a share of cases (issue 15); their opioid
        answers are already reviewed by staff, so the demo's MME figures are the same as when staff entered them."""
        if visit.visit_date is None or self.source_rng.random() >= P.PATIENT_REPORTED_SHARE.get(visit.visit_code, 0):
            return
        site_zone = ZoneInfo(visit.patient.site.time_zone)
        submitted = dt.datetime.combine(visit.visit_date, dt.time(18, self.source_rng.randrange(60)), tzinfo=site_zone)
        pain.source, pain.submitted_at = AnswerSource.PATIENT, submitted
        visit.opioid_source, visit.opioid_submitted_at = AnswerSource.PATIENT, submitted
        visit.opioid_reviewed_at = submitted + dt.timedelta(days=1)

    def _pain(self, visit: Visit, worst: int) -> PainAssessment:
        rng = self.rng
        least = max(0, worst - rng.randint(2, 4))
        average = max(least, min(worst, round((worst + least) / 2 + rng.gauss(0, 0.5))))
        pain = PainAssessment(
            visit=visit, worst=worst, least=least, average=average, current=max(least, min(worst, average + rng.randint(-1, 1)))
        )
        for item in ("general_activity", "mood", "walking_ability", "normal_work", "relations", "sleep", "enjoyment_of_life"):
            if rng.random() < 0.03:
                continue
            setattr(pain, item, max(0, min(10, round(worst * 0.75 + rng.gauss(0, 1.5)))))
        if visit.visit_code != "baseline":
            pain.relief_pct = rng.choice(range(0, 101, 10))
        return pain

    def _medication(self, visit: Visit, regimen, dose: int, per_day: int) -> MedicationUse:
        drug, route, unit, _, _ = regimen
        result = mme.mme_per_day(drug=drug, route=route, dose=Decimal(dose), unit=unit, doses_per_day=Decimal(per_day))
        return MedicationUse(
            visit=visit,
            drug=drug,
            route=route,
            dose=Decimal(dose),
            unit=unit,
            doses_per_day=Decimal(per_day),
            mme_factor=result.factor,
            mme_per_day=result.mme_per_day,
            mme_table_version=result.table_version,
        )

    def _events(self, plan: PatientPlan, exit_draw, sre_day: int, ae: bool, last_observed: int, last_contact: dt.date) -> None:
        rng, patient = self.rng, plan.patient
        day0 = patient.day0
        if plan.procedure is None:
            return
        exit_day = exit_draw[1] if exit_draw else None
        horizon = min(last_observed, exit_day if exit_day is not None else 400)
        if sre_day <= min(horizon, 400):
            kind = rng.choices([t for t, _ in SRE_TYPES], [w for _, w in SRE_TYPES])[0]
            date = day0 + dt.timedelta(days=sre_day)
            rt_start, rt_end = self._rt_window
            if sre.is_planned_radiation(kind, date, [(rt_start, rt_end)]):
                kind = "pathologic_fracture"  # planned RT is never an SRE (docs/domain.md §6)
            plan.skeletal_events.append(
                SkeletalEvent(patient=patient, event_type=kind, event_date=date, at_index_lesion=rng.random() < 0.5, location="")
            )
        if ae:
            onset = rng.randint(0, 30)
            if onset <= horizon:
                term, sir, ctcae, rel, serious, _ = rng.choices(AE_TERMS, [t[5] for t in AE_TERMS])[0]
                if rel == "cement_implant" and plan.procedure.augmentation == "none":
                    rel = "procedure"
                onset_date = day0 + dt.timedelta(days=onset)
                resolution = onset_date + dt.timedelta(days=rng.randint(1, 21))
                resolved = resolution <= self.anchor and (exit_day is None or (resolution - day0).days <= exit_day)
                plan.adverse_events.append(
                    AdverseEvent(
                        patient=patient,
                        term=term,
                        onset_date=onset_date,
                        sir_grade=sir,
                        ctcae_grade=ctcae,
                        relatedness=rel,
                        serious=serious,
                        outcome="recovered" if resolved else "recovering",
                        resolution_date=resolution if resolved else None,
                    )
                )
        if exit_day is not None and exit_day <= last_observed:
            kind = exit_draw[0]
            exit_date = day0 + dt.timedelta(days=exit_day)
            contact = exit_date if kind == "death" else min(max(last_contact, day0), exit_date)
            plan.exit = StudyExit(
                patient=patient,
                exit_type=kind,
                exit_date=exit_date,
                last_contact_date=contact,
                death_cause=rng.choice(["Disease progression", "Respiratory failure", "Sepsis"]) if kind == "death" else "",
            )
        elif last_observed >= 400 and plan.visits[-1].visit_date is not None:
            done = plan.visits[-1].visit_date
            plan.exit = StudyExit(patient=patient, exit_type="completion", exit_date=done, last_contact_date=done)
