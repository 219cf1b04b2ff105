"""Enrollment, adverse event and SRE forms, built from the model fields (labels and help texts in one place)."""

from __future__ import annotations

from django import forms
from django.forms.models import fields_for_model

from trials.models import AdverseEvent, Lesion, Patient, SkeletalEvent

DATE = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")

PATIENT_FIELDS = [
    "birth_year", "sex", "histology", "ecog", "consent_date", "enrollment_date", "day0",
    "screening_worst_pain", "life_expectancy_over_3_months", "prior_treatment_of_index_lesion",
]
LESION_FIELDS = [
    "region", "spine_level", "bone", "laterality", "size_mm", "lesion_type", "mechanical_or_functional_pain",
    "sins_pain", "sins_alignment", "sins_collapse", "sins_posterolateral", "bilsky_grade", "posterior_wall_involved",
]
AE_FIELDS = ["term", "onset_date", "sir_grade", "ctcae_grade", "relatedness", "serious", "outcome", "resolution_date"]
SRE_FIELDS = ["event_type", "event_date", "location", "at_index_lesion"]


class ModelFieldsForm(forms.Form):
    """A plain form whose fields come from a model; it never saves — a service does."""

    model = None
    model_fields: list[str] = []
    labels: dict[str, str] = {}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        date_fields = [f.name for f in self.model._meta.concrete_fields if f.get_internal_type() == "DateField"]
        self.fields.update(
            fields_for_model(
                self.model,
                fields=self.model_fields,
                widgets={name: DATE for name in date_fields},
                labels=self.labels,
            )
        )


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
    site = forms.ModelChoiceField(queryset=None, label="Site", empty_label=None)
    protocol_deviation = forms.CharField(
        required=False,
        label="Protocol deviation (data managers only)",
        help_text="Enroll an ineligible patient by describing the deviation.",
        widget=forms.Textarea(attrs={"rows": 2}),
    )

    def __init__(self, *args, sites, allow_deviation: bool, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["site"].queryset = sites
        if not allow_deviation:
            del self.fields["protocol_deviation"]

    def patient_data(self) -> dict:
        return {name: self.cleaned_data.get(name) for name in PATIENT_FIELDS}


class LesionForm(ModelFieldsForm):
    model = Lesion
    model_fields = LESION_FIELDS
    labels = {"mechanical_or_functional_pain": "Causes functional or mechanical pain", "size_mm": "Largest diameter (mm)"}

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


class ReasonForm(forms.Form):
    reason = forms.CharField(label="Reason for change", widget=forms.Textarea(attrs={"rows": 2}))
