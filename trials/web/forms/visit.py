"""Visit entry: date, Brief Pain Inventory, opioid answer and opioid rows (docs/domain.md §3, §5)."""

from __future__ import annotations

from django import forms

from trials import crf
from trials.domain import bpi, missing, mme
from trials.models import OpioidStatus, PainAssessment, Visit
from trials.services.visits import PAIN_FIELDS, VisitData

# Labels are the model's verbose names, declared once in the case-report form (trials.crf).
BPI_LABELS = {item.name: item.label for item in crf.form_of(PainAssessment).items if item.name in crf.BPI_ITEMS}
SCORE_ATTRS = {"inputmode": "numeric", "min": 0, "max": 10, "step": 1, "class": "score"}


def _score_field(name: str, *, interference: bool) -> forms.IntegerField:
    # No min/max validators here: the range rule belongs to the service, which names it.
    return forms.IntegerField(
        required=False,
        label=BPI_LABELS[name],
        help_text="0 = does not interfere, 10 = completely interferes" if interference else "0 = no pain, 10 = worst imaginable",
        widget=forms.NumberInput(attrs={**SCORE_ATTRS, **({"data-interference": "1"} if interference else {})}),
    )


class VisitForm(forms.Form):
    # Not required here: the service names a missing date in the same round as every other rule.
    visit_date = forms.DateField(
        required=False, label="Visit date", widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
    )
    not_done_reason = forms.CharField(
        required=False,
        label="Reason the visit was not done",
        help_text="Only when the visit did not take place (e.g. patient in hospital elsewhere). Leave the rest of the "
        "form empty.",
        widget=forms.Textarea(attrs={"rows": 2}),
    )
    opioid_status = forms.ChoiceField(
        required=False,
        label="Opioid use at this visit",
        choices=[
            (OpioidStatus.NONE, "No opioids (OMED 0)"),
            (OpioidStatus.TAKING, "Taking opioids"),
            (OpioidStatus.UNKNOWN, "Not recorded"),
        ],
        widget=forms.RadioSelect,
    )
    relief_pct = forms.IntegerField(
        required=False,
        label="Relief from treatment (%)",
        help_text="0–100 in steps of 10",
        widget=forms.NumberInput(attrs={"inputmode": "numeric", "min": 0, "max": 100, "step": 10}),
    )
    reason = forms.CharField(
        required=False,
        label="Reason for change",
        help_text="Required: this visit already has data, and every change is audited.",
        widget=forms.Textarea(attrs={"rows": 2}),
    )
    confirm_out_of_window = forms.BooleanField(
        required=False,
        label="The date is correct although it is outside the visit window",
        help_text="The visit is saved and flagged as out of window.",
    )
    expected_version = forms.IntegerField(widget=forms.HiddenInput)

    def __init__(self, *args, visit: Visit, **kwargs):
        super().__init__(*args, **kwargs)
        self.visit = visit
        for name in bpi.INTENSITY_ITEMS:
            self.fields[name] = _score_field(name, interference=False)
        for name in bpi.INTERFERENCE_ITEMS:
            self.fields[name] = _score_field(name, interference=True)
        for name in PAIN_FIELDS:
            self.fields[missing_name(name)] = forms.ChoiceField(
                required=False,
                label=f"Missing-data code: {name.replace('_', ' ')}",
                choices=[("", "—"), *[(code, f"{code} · {label}") for code, label in missing.MISSING_CODE_CHOICES]],
            )
        self.is_correction = visit.has_data or visit.is_not_done
        if not self.is_correction:
            del self.fields["reason"]

    def window_confirmed(self, visit_date) -> bool:
        """In the window, or outside it with the explicit confirmation ticked."""
        inside = self.visit.window_start <= visit_date <= self.visit.window_end
        return inside or bool(self.cleaned_data.get("confirm_out_of_window"))

    def out_of_window_message(self, visit_date) -> str:
        v = self.visit
        return (
            f"{_day(visit_date)} is outside the {v.definition.label} window ({_day(v.open_from)} – {_day(v.window_end)}). "
            "Check the date; if it is right, tick “The date is correct although it is outside the visit window” and save again."
        )

    @property
    def asks_window_confirmation(self) -> bool:
        return bool(self.data.get("confirm_out_of_window")) or any(
            "outside the" in str(e) for e in self.errors.get("visit_date", [])
        )

    def clean(self):
        data = super().clean()
        if (
            not (data.get("not_done_reason") or "").strip()
            and not data.get("opioid_status")
            and "opioid_status" not in self.errors
        ):
            self.add_error("opioid_status", "Answer the opioid question (choose 'Not recorded' if nobody asked).")
        return data

    def _pairs(self, names):
        return [(self[name], self[missing_name(name)]) for name in names]

    def intensity_fields(self):
        """(score field, its missing-data code field) per BPI intensity item."""
        return self._pairs(bpi.INTENSITY_ITEMS)

    def interference_fields(self):
        return self._pairs(bpi.INTERFERENCE_ITEMS)

    def relief_field(self):
        return self._pairs(("relief_pct",))[0]

    def pain_values(self) -> dict[str, int | None]:
        return {name: self.cleaned_data.get(name) for name in PAIN_FIELDS}

    def missing_codes(self) -> dict[str, str]:
        return {name: code for name in PAIN_FIELDS if (code := self.cleaned_data.get(missing_name(name)))}

    @staticmethod
    def initial_for(visit: Visit, *, today) -> dict:
        """The recorded visit as form values; today's date only for a visit not yet entered whose window is open."""
        data = VisitData.from_visit(visit)
        in_window = visit.window_start <= today <= visit.window_end
        return {
            # Today is offered only when it is a valid visit day; otherwise the coordinator types the real date.
            "visit_date": data.visit_date or (today if in_window else None),
            "opioid_status": data.opioid_status,
            "expected_version": visit.version,
            "not_done_reason": data.not_done_reason,
            **data.pain,
            **{missing_name(item): code for item, code in data.missing_codes.items()},
        }


def missing_name(item: str) -> str:
    """Form field holding the missing-data code of BPI item ``item``."""
    return f"{item}__missing"


def _day(value) -> str:
    return f"{value.day} {value:%b %Y}"


def _blank(choices):
    return [("", "—"), *choices]


class MedicationRowForm(forms.Form):
    drug = forms.ChoiceField(label="Opioid", choices=_blank(mme.DRUG_CHOICES), required=False)
    route = forms.ChoiceField(label="Route", choices=_blank(mme.ROUTE_CHOICES), required=False)
    dose = forms.DecimalField(
        label="Dose",
        required=False,
        help_text="mg per dose; mcg/h for a patch",
        widget=forms.NumberInput(attrs={"step": "any", "min": 0}),
    )
    unit = forms.ChoiceField(label="Unit", choices=_blank(mme.UNIT_CHOICES), required=False)
    doses_per_day = forms.DecimalField(
        label="Doses per day",
        required=False,
        help_text="Blank = once a day. For a patch (mcg/h): the number of patches worn at once.",
        widget=forms.NumberInput(attrs={"step": "any", "min": 0}),
    )
    mme_factor = forms.DecimalField(
        label="Explicit MME factor",
        required=False,
        help_text="Only for a drug or route outside the CDC 2022 table",
        widget=forms.NumberInput(attrs={"step": "any", "min": 0, "placeholder": "factor"}),
    )
    factor_source = forms.CharField(
        label="Source of the factor", required=False, max_length=200, widget=forms.TextInput(attrs={"placeholder": "source"})
    )

    def is_blank(self) -> bool:
        data = getattr(self, "cleaned_data", {})
        return not any(data.get(name) not in (None, "") for name in self.fields)

    def as_service_row(self) -> dict:
        return {name: value for name, value in self.cleaned_data.items() if value not in (None, "")}


MedicationFormSet = forms.formset_factory(MedicationRowForm, extra=0, max_num=20, validate_max=True)


def medication_initial(visit: Visit) -> list[dict]:
    """The visit's active opioid rows as form rows (the same input the service takes back)."""
    return VisitData.from_visit(visit).medications


def mme_table_for_page() -> dict:
    """The CDC 2022 table as JSON for the live MME calculation; the same data the service uses."""
    return {
        "version": mme.MME_TABLE_VERSION,
        "drugs": {c.drug: {"route": c.route, "unit": c.unit, "factor": str(c.factor)} for c in mme.CURRENT_TABLE.values()},
        "minInterferenceAnswered": bpi.MIN_INTERFERENCE_ANSWERED,
        # What to do when a drug/route has no table factor, per drug and route (shown beside the row).
        "guidance": {
            drug: {route: mme.explicit_factor_guidance(drug, route) for route, _ in mme.ROUTE_CHOICES}
            for drug, _ in mme.DRUG_CHOICES
        },
    }
