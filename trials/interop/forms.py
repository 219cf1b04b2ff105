"""The registry's case report forms, described once for every exchange format (ODM, REDCap).

Each form lists the model fields it carries; types, labels and code lists are
read from the models, so a new choice in a model reaches the exports without
another edit. Events: ``enrollment`` (once), one per scheduled visit
(docs/domain.md §2) and ``ongoing`` (adverse events, SREs, exit — any time).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from django.db import models

from trials.domain import schedule
from trials.models import (
    AdverseEvent,
    Lesion,
    MedicationUse,
    PainAssessment,
    Patient,
    Procedure,
    RadiationCourse,
    SkeletalEvent,
    StudyExit,
    Visit,
)

ENROLLMENT_EVENT = "enrollment"
ONGOING_EVENT = "ongoing"
VISIT_EVENT = "visit"

DATA_TYPES = {
    models.DateField: "date",
    models.BooleanField: "boolean",
    models.DecimalField: "float",
    models.FloatField: "float",
    models.PositiveSmallIntegerField: "integer",
    models.PositiveIntegerField: "integer",
    models.IntegerField: "integer",
}
# Fields that may hold identifying free text: withheld from sponsors (docs/domain.md §10).
FREE_TEXT = frozenset({"term", "device", "implant_type", "death_cause", "location", "factor_source"})


@dataclass(frozen=True)
class Item:
    form: str
    name: str  # the model field
    label: str
    data_type: str  # integer | float | date | boolean | text
    choices: tuple[tuple[str, str], ...]
    variable: str  # REDCap variable name (unique in the project)

    @property
    def free_text(self) -> bool:
        return self.name in FREE_TEXT


@dataclass(frozen=True)
class Form:
    name: str
    label: str
    model: type[models.Model]
    fields: tuple[str, ...]
    event: str  # ENROLLMENT_EVENT | VISIT_EVENT | ONGOING_EVENT
    repeating: bool = False
    prefix: str = ""

    @cached_property
    def items(self) -> tuple[Item, ...]:
        return tuple(self._item(name) for name in self.fields)

    def _item(self, name: str) -> Item:
        field = self.model._meta.get_field(name)
        data_type = next((t for cls, t in DATA_TYPES.items() if isinstance(field, cls)), "text")
        choices = tuple((str(k), str(v)) for k, v in field.choices or ())
        label = str(field.verbose_name).capitalize()
        variable = name if name.startswith(self.prefix) else f"{self.prefix}{name}"
        return Item(self.name, name, label, data_type, choices, variable)


FORMS: tuple[Form, ...] = (
    Form("registration", "Registration", Patient,
         ("birth_year", "sex", "histology", "ecog", "consent_date", "enrollment_date", "day0", "screening_worst_pain",
          "life_expectancy_over_3_months", "prior_treatment_of_index_lesion"), ENROLLMENT_EVENT),
    Form("lesion", "Treated lesion", Lesion,
         ("is_index", "region", "spine_level", "bone", "laterality", "size_mm", "lesion_type", "mechanical_or_functional_pain",
          "sins_pain", "sins_alignment", "sins_collapse", "sins_posterolateral", "bilsky_grade", "posterior_wall_involved"),
         ENROLLMENT_EVENT, repeating=True, prefix="lesion_"),
    Form("procedure", "Index procedure", Procedure,
         ("procedure_date", "modality", "device", "probes", "ablation_minutes", "thermal_protection", "neuromonitoring",
          "anesthesia", "augmentation", "cement_technique", "cement_volume_ml", "cement_leakage", "implant_type"),
         ENROLLMENT_EVENT, prefix="procedure_"),
    Form("radiation", "Radiation course", RadiationCourse,
         ("sequence", "start_date", "end_date", "total_dose_gy", "fractions", "technique", "alpha_beta_gy"),
         ENROLLMENT_EVENT, repeating=True, prefix="rt_"),
    Form("visit", "Visit", Visit, ("visit_date", "out_of_window", "opioid_status"), VISIT_EVENT, prefix="visit_"),
    Form("bpi", "Brief Pain Inventory", PainAssessment,
         ("worst", "least", "average", "current", "general_activity", "mood", "walking_ability", "normal_work", "relations",
          "sleep", "enjoyment_of_life", "relief_pct"), VISIT_EVENT, prefix="bpi_"),
    Form("opioid", "Opioid use", MedicationUse,
         ("drug", "route", "dose", "unit", "doses_per_day", "mme_factor", "factor_source", "mme_per_day"),
         VISIT_EVENT, repeating=True, prefix="opioid_"),
    Form("adverse_event", "Adverse event", AdverseEvent,
         ("term", "onset_date", "sir_grade", "ctcae_grade", "relatedness", "serious", "outcome", "resolution_date"),
         ONGOING_EVENT, repeating=True, prefix="ae_"),
    Form("skeletal_event", "Skeletal-related event", SkeletalEvent,
         ("event_type", "event_date", "location", "at_index_lesion"), ONGOING_EVENT, repeating=True, prefix="sre_"),
    Form("study_exit", "Study exit", StudyExit,
         ("exit_type", "exit_date", "last_contact_date", "death_cause"), ONGOING_EVENT, prefix="exit_"),
)
FORMS_BY_NAME = {form.name: form for form in FORMS}


@dataclass(frozen=True)
class Event:
    code: str
    label: str
    description: str
    forms: tuple[Form, ...]
    visit_code: str = ""


def events() -> tuple[Event, ...]:
    """Enrollment, then the visit schedule (docs/domain.md §2) in order, then the any-time event."""
    by_event = {kind: tuple(f for f in FORMS if f.event == kind) for kind in (ENROLLMENT_EVENT, VISIT_EVENT, ONGOING_EVENT)}
    visits = tuple(
        Event(v.code, v.label, f"Target day {v.target_day} from day 0 (index procedure); window day {v.window_start} to {v.window_end}.",
              by_event[VISIT_EVENT], visit_code=v.code)
        for v in schedule.DEFAULT_SCHEDULE
    )
    return (
        Event(ENROLLMENT_EVENT, "Enrollment", "Registration, index lesion, index procedure and planned radiation.", by_event[ENROLLMENT_EVENT]),
        *visits,
        Event(ONGOING_EVENT, "Ongoing", "Adverse events, skeletal-related events and study exit, whenever they occur.", by_event[ONGOING_EVENT]),
    )
