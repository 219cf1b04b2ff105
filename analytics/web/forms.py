"""The report request form of the investigator reports page."""

from __future__ import annotations

from django import forms

from analytics.parameters import RunParameters
from analytics.stats.strata import STRATA_VARIABLES
from trials.errors import DomainValidationError

STRATA_LABELS = {
    "site": "Site",
    "modality": "Ablation modality",
    "augmentation": "Augmentation",
    "radiation_sequence": "Radiation sequence",
    "region": "Lesion region",
}


class ReportRequestForm(forms.Form):
    strata = forms.MultipleChoiceField(
        label="Stratify by",
        choices=[(s, STRATA_LABELS.get(s, s)) for s in STRATA_VARIABLES],
        widget=forms.CheckboxSelectMultiple,
        required=False,
        initial=list(RunParameters().strata),
    )
    include_hypercalcaemia = forms.BooleanField(label="Count hypercalcaemia of malignancy as an SRE", required=False)
    force = forms.BooleanField(label="Recompute even if the data have not changed", required=False)

    def add_service_errors(self, exc: DomainValidationError) -> None:
        """The service's errors (``parameters_parse``: field → rule) beside the fields they name, the rest on the form."""
        for key, messages in exc.errors.items():
            for message in messages:
                self.add_error(key if key in self.fields else None, message)
