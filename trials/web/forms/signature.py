"""The electronic signature form: a meaning from the fixed list (21 CFR 11.50) and the password again."""

from __future__ import annotations

from django import forms

from trials.models import SIGNATURE_STATEMENTS, SignatureMeaning


class SignForm(forms.Form):
    meaning = forms.ChoiceField(
        label="Meaning of your signature",
        choices=[(code, f"{label} — {SIGNATURE_STATEMENTS[SignatureMeaning(code)]}") for code, label in SignatureMeaning.choices],
        widget=forms.RadioSelect,
    )
    password = forms.CharField(
        label="Your password", widget=forms.PasswordInput, help_text="Re-enter your password: this is your electronic signature."
    )
