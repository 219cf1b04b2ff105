"""Forms of the data-management pages: a message on a data query, and a lock with its confirmation step."""

from __future__ import annotations

from django import forms

from trials.access import scope_queryset
from trials.models import LockScope, Patient, Site


class MessageForm(forms.Form):
    message = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False)


class LockForm(forms.Form):
    """What to lock, chosen explicitly; the lock is applied only after a confirmation step."""

    scope = forms.ChoiceField(label="What to lock", choices=LockScope.choices, widget=forms.RadioSelect)
    patient = forms.CharField(required=False, label="Patient (study ID)", help_text="For a patient lock, e.g. ATL-001.")
    site = forms.ModelChoiceField(queryset=Site.objects.all(), required=False, label="Site", help_text="For a site lock.")
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), help_text="E.g. the data cut-off this lock serves.")

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.user = user

    def clean(self):
        data = super().clean()
        scope = data.get("scope")
        if scope == LockScope.PATIENT:
            study_id = (data.get("patient") or "").strip()
            patient = scope_queryset(self.user, Patient.objects.active()).filter(study_id=study_id).first() if study_id else None
            if patient is None:
                self.add_error("patient", f"No patient {study_id}." if study_id else "Enter the study ID of the patient to lock.")
            data["patient_obj"] = patient
        elif scope == LockScope.SITE and data.get("site") is None:
            self.add_error("site", "Choose the site to lock.")
        return data

    def target(self) -> str:
        scope = self.cleaned_data["scope"]
        if scope == LockScope.PATIENT:
            return f"patient {self.cleaned_data['patient_obj'].study_id}"
        if scope == LockScope.SITE:
            return f"every patient of site {self.cleaned_data['site'].code} ({self.cleaned_data['site'].name})"
        return "the whole study: every patient of every site"

    def affected_patients(self) -> int:
        scope = self.cleaned_data["scope"]
        if scope == LockScope.PATIENT:
            return 1
        patients = Patient.objects.active()
        if scope == LockScope.SITE:
            patients = patients.filter(site=self.cleaned_data["site"])
        return patients.count()
