"""Enrollment, adverse event and SRE forms, built from the model fields (labels and help texts in one place)."""

from __future__ import annotations

from django import forms
from django.db import models
from django.forms.models import fields_for_model

from trials import crf
from trials.models import (
    AdverseEvent,
    ExitType,
    ImagingAssessment,
    Lesion,
    Patient,
    Procedure,
    RadiationCourse,
    SkeletalEvent,
    StudyExit,
)
from trials.web.labels import FIELD_LABELS

DATE = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")

# Field lists come from the case-report forms (trials.crf): a field added to a form appears here without an edit.
PATIENT_FIELDS = list(crf.form_of(Patient).entered_fields)
LESION_FIELDS = [f for f in crf.form_of(Lesion).entered_fields if f != "is_index"]  # the service decides the index lesion
AE_FIELDS = list(crf.form_of(AdverseEvent).entered_fields)
SRE_FIELDS = list(crf.form_of(SkeletalEvent).entered_fields)
PROCEDURE_FIELDS = list(crf.form_of(Procedure).entered_fields)
RADIATION_FIELDS = list(crf.form_of(RadiationCourse).entered_fields)
EXIT_FIELDS = list(crf.form_of(StudyExit).entered_fields)
IMAGING_FIELDS = list(crf.form_of(ImagingAssessment).entered_fields)


class ModelFieldsForm(forms.Form):
    """A plain form whose fields come from a model; it never saves — a service does."""

    model: type[models.Model]  # set by each subclass
    model_fields: list[str] = []
    labels: dict[str, str] = {}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields.update(self.model_form_fields())

    @classmethod
    def model_form_fields(cls) -> dict:
        """The model's fields as form fields (dates as date pickers)."""
        date_fields = [f.name for f in cls.model._meta.concrete_fields if f.get_internal_type() == "DateField"]
        return fields_for_model(
            cls.model, fields=cls.model_fields, widgets={name: DATE for name in date_fields}, labels=cls.labels
        )

    def record_data(self) -> dict:
        """The cleaned values of the model's fields, ready for a service."""
        return {name: self.cleaned_data.get(name) for name in self.model_fields}


class PatientForm(ModelFieldsForm):
    model = Patient
    model_fields = PATIENT_FIELDS
    labels = {
        "ecog": "ECOG performance status (0–5)",
        "day0": "Planned index procedure date (day 0)",
        "screening_worst_pain": "BPI worst pain at screening (0–10)",
        "life_expectancy_over_3_months": "Life expectancy more than 3 months",
        "prior_treatment_of_index_lesion": "Prior radiation or ablation of the index lesion",
    }
    site: forms.ModelChoiceField = forms.ModelChoiceField(queryset=None, label="Site", empty_label=None)
    protocol_deviation = forms.CharField(
        required=False,
        label="Protocol deviation (data managers only)",
        help_text="Enroll an ineligible patient by describing the deviation.",
        widget=forms.Textarea(attrs={"rows": 2}),
    )

    def __init__(self, *args, sites, allow_deviation: bool, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["site"].queryset = sites  # type: ignore[attr-defined]  # a ModelChoiceField
        if not allow_deviation:
            del self.fields["protocol_deviation"]

    def patient_data(self) -> dict:
        return {name: self.cleaned_data.get(name) for name in PATIENT_FIELDS}


class LesionForm(ModelFieldsForm):
    model = Lesion
    model_fields = LESION_FIELDS
    labels = {
        **{
            name: FIELD_LABELS[name]
            for name in (
                "sins_pain",
                "sins_alignment",
                "sins_collapse",
                "sins_posterolateral",
                "bilsky_grade",
                "mechanical_or_functional_pain",
            )
        },
        "size_mm": "Largest diameter (mm)",
    }

    def lesion_data(self) -> dict:
        return {name: self.cleaned_data.get(name) for name in LESION_FIELDS}


class AdverseEventForm(ModelFieldsForm):
    model = AdverseEvent
    model_fields = AE_FIELDS
    labels = {"ctcae_grade": "CTCAE v5.0 grade (1–5)", "sir_grade": "SIR grade"}


class SkeletalEventForm(ModelFieldsForm):
    model = SkeletalEvent
    model_fields = SRE_FIELDS
    labels = {"event_type": "Type of skeletal-related event", "at_index_lesion": "At the index lesion"}


class ImagingAssessmentForm(ModelFieldsForm):
    """Imaging follow-up of a treated lesion (terms: Ahmed et al., Radiology 2014;273:241)."""

    model = ImagingAssessment
    model_fields = IMAGING_FIELDS
    labels = {
        "lesion_instance": "Treated lesion number (shown as “no.” in the patient's lesion list)",
        "first_post_procedure": "First post-procedure imaging (technical success is judged on it)",
        "local_tumour_progression": "Local tumour progression (new tumour at the ablation margin after complete ablation)",
    }


class ProcedureForm(ModelFieldsForm):
    model = Procedure
    model_fields = PROCEDURE_FIELDS
    labels = {
        "procedure_date": "Procedure date (becomes day 0)",
        "probes": "Number of probes",
        "ablation_minutes": "Ablation time (minutes)",
        "cement_volume_ml": "Cement volume (mL)",
        "cement_leakage": "Cement leakage",
        "implant_type": "Implant type",
    }


class RadiationForm(ModelFieldsForm):
    model = RadiationCourse
    model_fields = RADIATION_FIELDS
    labels = {
        "sequence": "Timing relative to the index ablation",
        "total_dose_gy": "Total dose (Gy)",
        "fractions": "Number of fractions",
        "alpha_beta_gy": "α/β for BED/EQD2 (Gy)",
    }


class StudyExitForm(ModelFieldsForm):
    model = StudyExit
    model_fields = EXIT_FIELDS
    labels = {"exit_type": "Reason for leaving the study", "death_cause": "Cause of death"}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["last_contact_date"].required = False
        self.fields["last_contact_date"].help_text += " For a death, leave empty: it is the date of death."

    def clean(self):
        data = super().clean()
        if data.get("exit_type") == ExitType.DEATH and not data.get("last_contact_date"):
            data["last_contact_date"] = data.get("exit_date")
        elif not data.get("last_contact_date") and "last_contact_date" not in self.errors:
            self.add_error("last_contact_date", "Last contact date is required unless the patient died.")
        return data


class ReasonForm(forms.Form):
    reason = forms.CharField(label="Reason for change", widget=forms.Textarea(attrs={"rows": 2}))
