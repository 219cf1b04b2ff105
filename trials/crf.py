"""Case-report forms: every clinical field of the registry declared once (issue 10, A.1).

Each form names its model, its fields in order and, per field, what every layer needs: label (the
model's ``verbose_name``), help text, unit, range, code list, whether it is free text or a device
identifier (which decides what sponsors see), the missing-data code it accepts and its
export / ODM / REDCap variable name. Types, labels and code lists are read from the models, so a new
choice or a relabelled field reaches every layer without another edit.

Derived from here: the sponsor de-identification (``trials.deidentification``), the CSV/XLSX export
columns (``trials.interop.tabular``), the ODM metadata and REDCap dictionary and records
(``trials.interop``), and the test that every layer lists exactly the declared fields
(``tests/trials/test_crf.py``). Events: ``enrollment`` (once), one per scheduled visit
(docs/domain.md §2) and ``ongoing`` (adverse events, SREs, exit — any time).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from functools import cached_property

from django.core.exceptions import ImproperlyConfigured
from django.db import models

from trials.domain import bpi, schedule
from trials.models import (
    AdverseEvent,
    ImagingAssessment,
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
from trials.models.base import concrete_field

ENROLLMENT_EVENT = "enrollment"
ONGOING_EVENT = "ongoing"
VISIT_EVENT = "visit"

DATA_TYPES = {
    models.DateTimeField: "datetime",  # before DateField: a DateTimeField is a DateField
    models.DateField: "date",
    models.BooleanField: "boolean",
    models.DecimalField: "float",
    models.FloatField: "float",
    models.PositiveSmallIntegerField: "integer",
    models.PositiveIntegerField: "integer",
    models.IntegerField: "integer",
}


class Kind(StrEnum):
    """What a field holds, which decides how it may be shown to a sponsor (docs/domain.md §10)."""

    CODED = "coded"  # a choice from a code list
    NUMBER = "number"
    DATE = "date"  # shown to sponsors as days from day 0
    BOOLEAN = "boolean"
    FREE_TEXT = "free_text"  # typed text that may identify someone: withheld from sponsors
    DEVICE_IDENTIFIER = "device_identifier"  # device names, lot/serial numbers, UDIs: withheld from sponsors
    TIMESTAMP = "timestamp"  # a record's clock time (patient submission, staff review): withheld from sponsors


WITHHELD_KINDS = frozenset({Kind.FREE_TEXT, Kind.DEVICE_IDENTIFIER, Kind.TIMESTAMP})

# Every text field without a code list must be classified here; one that is not fails the build
# (``Form.items`` raises), so new free text cannot reach a sponsor unclassified.
TEXT_FIELDS: dict[str, Kind] = {
    "term": Kind.FREE_TEXT,
    "location": Kind.FREE_TEXT,
    "death_cause": Kind.FREE_TEXT,
    "factor_source": Kind.FREE_TEXT,
    "not_done_reason": Kind.FREE_TEXT,  # why a visit did not take place: may name a hospital or a person
    "device": Kind.DEVICE_IDENTIFIER,
    "implant_type": Kind.DEVICE_IDENTIFIER,
}
# Units of measure (UCUM-style symbols) of the numeric fields that have one.
UNITS: dict[str, str] = {
    "size_mm": "mm",
    "ablation_minutes": "min",
    "cement_volume_ml": "mL",
    "total_dose_gy": "Gy",
    "alpha_beta_gy": "Gy",
    "dose": "mg or mcg/h",
    "fluoroscopy_seconds": "s",
    "radiation_dose": "Gy·cm² or mGy·cm",
    "doses_per_day": "/d",
    "mme_per_day": "MME/d",
    "relief_pct": "%",
    "birth_year": "year",
}
BPI_ITEMS = (*bpi.INTENSITY_ITEMS, *bpi.INTERFERENCE_ITEMS)
# Accepted ranges (inclusive) of numeric fields, with their source: BPI 0–10 and relief 0–100 % (§3), ECOG 0–5 (§8).
RANGES: dict[str, tuple[float | None, float | None]] = {
    **{item: (0, 10) for item in BPI_ITEMS},
    "screening_worst_pain": (0, 10),
    "relief_pct": (0, 100),
    "ecog": (0, 5),
    "birth_year": (1900, None),
    "probes": (1, None),
    "fractions": (1, None),
    "ctcae_grade": (1, 5),
    "lesion_instance": (1, None),
}
# The one missing-data code: a blank answer on a field that may be left blank means "not recorded".
NOT_RECORDED = ""


@dataclass(frozen=True)
class Item:
    """One field of a form, with everything the layers need to show, check, exchange and de-identify it."""

    form: str
    name: str  # the model field
    label: str  # the model field's verbose_name, capitalised
    data_type: str  # integer | float | date | boolean | text
    choices: tuple[tuple[str, str], ...]
    variable: str  # export / ODM / REDCap variable name (unique in the project)
    kind: Kind = Kind.NUMBER
    help_text: str = ""
    unit: str = ""
    minimum: float | None = None
    maximum: float | None = None
    missing_codes: tuple[str, ...] = ()  # (NOT_RECORDED,) when the field may be left blank
    entered: bool = True  # False for values the registry derives (out of window, MME factor and MME/day)

    @property
    def free_text(self) -> bool:
        """Withheld from sponsors: free text or a device identifier."""
        return self.kind in WITHHELD_KINDS


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
        field = concrete_field(self.model, name)
        data_type = next((t for cls, t in DATA_TYPES.items() if isinstance(field, cls)), "text")
        choices = tuple((str(k), str(v)) for k, v in field.choices or ())
        label = str(field.verbose_name)
        label = label[:1].upper() + label[1:]
        variable = name if name.startswith(self.prefix) else f"{self.prefix}{name}"
        if choices:
            kind = Kind.CODED
        elif data_type == "text":
            if name not in TEXT_FIELDS:
                raise ImproperlyConfigured(
                    f"{self.model.__name__}.{name} is text without a code list and is not classified: add it to "
                    "trials.crf.TEXT_FIELDS as FREE_TEXT or DEVICE_IDENTIFIER (it decides what sponsors see)."
                )
            kind = TEXT_FIELDS[name]
        else:
            kind = {"date": Kind.DATE, "datetime": Kind.TIMESTAMP, "boolean": Kind.BOOLEAN}.get(data_type, Kind.NUMBER)
        minimum, maximum = RANGES.get(name, (None, None))
        return Item(
            self.name,
            name,
            label,
            data_type,
            choices,
            variable,
            kind=kind,
            help_text=str(field.help_text or ""),
            unit=UNITS.get(name, ""),
            minimum=minimum,
            maximum=maximum,
            missing_codes=(NOT_RECORDED,) if field.null or field.blank else (),
            entered=field.editable and name != "out_of_window",
        )

    def item(self, name: str) -> Item:
        return next(i for i in self.items if i.name == name)

    @property
    def entered_fields(self) -> tuple[str, ...]:
        """The fields a user enters on this form (not the derived ones), in form order."""
        return tuple(i.name for i in self.items if i.entered)


FORMS: tuple[Form, ...] = (
    Form(
        "registration",
        "Registration",
        Patient,
        (
            "birth_year",
            "sex",
            "histology",
            "ecog",
            "consent_date",
            "enrollment_date",
            "day0",
            "screening_worst_pain",
            "life_expectancy_over_3_months",
            "prior_treatment_of_index_lesion",
            "new_bowel_bladder_dysfunction",
            "new_motor_weakness",
            "foot_drop",
            "frankel_grade",
        ),
        ENROLLMENT_EVENT,
    ),
    Form(
        "lesion",
        "Treated lesion",
        Lesion,
        (
            "is_index",
            "region",
            "spine_level",
            "bone",
            "laterality",
            "size_mm",
            "lesion_type",
            "mechanical_or_functional_pain",
            "sins_pain",
            "sins_alignment",
            "sins_collapse",
            "sins_posterolateral",
            "bilsky_grade",
            "posterior_wall_involved",
        ),
        ENROLLMENT_EVENT,
        repeating=True,
        prefix="lesion_",
    ),
    Form(
        "procedure",
        "Index procedure",
        Procedure,
        (
            "procedure_date",
            "modality",
            "device",
            "probes",
            "ablation_minutes",
            "thermal_protection",
            "neuromonitoring",
            "anesthesia",
            "augmentation",
            "cement_technique",
            "cement_volume_ml",
            "cement_leakage",
            "implant_type",
            "intent",
            "guidance",
            "fluoroscopy_seconds",
            "radiation_dose",
            "radiation_dose_unit",
            "neuromonitoring_type",
            "cement_fill",
        ),
        ENROLLMENT_EVENT,
        prefix="procedure_",
    ),
    Form(
        "radiation",
        "Radiation course",
        RadiationCourse,
        ("sequence", "start_date", "end_date", "total_dose_gy", "fractions", "technique", "alpha_beta_gy"),
        ENROLLMENT_EVENT,
        repeating=True,
        prefix="rt_",
    ),
    Form(
        "visit",
        "Visit",
        Visit,
        (
            "visit_date",
            "out_of_window",
            "opioid_status",
            "not_done_reason",
            # Provenance of the opioid answers (issue 15): derived, never entered on the form.
            "opioid_source",
            "opioid_submitted_at",
            "opioid_reviewed_at",
        ),
        VISIT_EVENT,
        prefix="visit_",
    ),
    Form(
        "bpi",
        "Brief Pain Inventory",
        PainAssessment,
        (*BPI_ITEMS, "relief_pct", "source", "submitted_at"),  # source and submission time: provenance (issue 15)
        VISIT_EVENT,
        prefix="bpi_",
    ),
    Form(
        "opioid",
        "Opioid use",
        MedicationUse,
        ("drug", "route", "dose", "unit", "doses_per_day", "mme_factor", "factor_source", "mme_per_day"),
        VISIT_EVENT,
        repeating=True,
        prefix="opioid_",
    ),
    Form(
        "adverse_event",
        "Adverse event",
        AdverseEvent,
        ("term", "onset_date", "sir_grade", "ctcae_grade", "relatedness", "serious", "outcome", "resolution_date"),
        ONGOING_EVENT,
        repeating=True,
        prefix="ae_",
    ),
    Form(
        "skeletal_event",
        "Skeletal-related event",
        SkeletalEvent,
        ("event_type", "event_date", "location", "at_index_lesion"),
        ONGOING_EVENT,
        repeating=True,
        prefix="sre_",
    ),
    # Local tumour control follow-up (issue 10, part B): one record per imaging study of a treated lesion, with the
    # terms of Ahmed et al., Radiology 2014;273:241 (trials.models.imaging; docs/domain.md §12).
    Form(
        "imaging",
        "Imaging follow-up",
        ImagingAssessment,
        (
            "lesion_instance",
            "assessment_date",
            "imaging_modality",
            "first_post_procedure",
            "viable_tumour",
            "local_tumour_progression",
            "ltp_date",
        ),
        ONGOING_EVENT,
        repeating=True,
        prefix="imaging_",
    ),
    Form(
        "study_exit",
        "Study exit",
        StudyExit,
        ("exit_type", "exit_date", "last_contact_date", "death_cause"),
        ONGOING_EVENT,
        prefix="exit_",
    ),
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
        Event(
            v.code,
            v.label,
            f"Target day {v.target_day} from day 0 (index procedure); window day {v.window_start} to {v.window_end}.",
            by_event[VISIT_EVENT],
            visit_code=v.code,
        )
        for v in schedule.DEFAULT_SCHEDULE
    )
    return (
        Event(
            ENROLLMENT_EVENT,
            "Enrollment",
            "Registration, index lesion, index procedure and planned radiation.",
            by_event[ENROLLMENT_EVENT],
        ),
        *visits,
        Event(
            ONGOING_EVENT,
            "Ongoing",
            "Adverse events, skeletal-related events, imaging follow-up and study exit, whenever they occur.",
            by_event[ONGOING_EVENT],
        ),
    )


def form_of(model: type[models.Model]) -> Form:
    """The case-report form of ``model`` (``KeyError`` when the model is not a form)."""
    return next(f for f in FORMS if f.model is model)


def withheld_fields() -> frozenset[str]:
    """Names of every form field a sponsor must not see (free text and device identifiers)."""
    return frozenset(i.name for f in FORMS for i in f.items if i.free_text)
