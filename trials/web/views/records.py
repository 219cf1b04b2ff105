"""Add, correct (reason, old → new) and void (reason) every clinical record from the patient page.

One set of views serves the index procedure, radiation courses, lesions, adverse
events, SREs, the study exit and (void only; correction is the visit form) visits.
Every write goes through a service: ``procedure_record`` & co. to add,
``clinical_record_update`` to correct, ``clinical_record_void`` /
``visit_data_void`` to void.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme

from trials import services
from trials.errors import ConflictError, DomainValidationError
from trials.guards import can_write, clinical_page
from trials.models import AdverseEvent, ImagingAssessment, Lesion, Procedure, RadiationCourse, SkeletalEvent, StudyExit, Visit
from trials.models.base import ClinicalRecord
from trials.web.forms.clinical import (
    AdverseEventForm,
    ImagingAssessmentForm,
    LesionForm,
    ModelFieldsForm,
    ProcedureForm,
    RadiationForm,
    SkeletalEventForm,
    StudyExitForm,
)
from trials.web.forms.errors import domain_errors_to_form
from trials.web.selectors.patients import patient_get


def _lesion_add(*, actor, patient, data):
    return services.lesion_add(actor=actor, patient=patient, lesion_data=data)


@dataclass(frozen=True)
class RecordKind:
    """One clinical record type as the web UI adds, corrects and voids it."""

    model: type[ClinicalRecord]
    form_class: type[ModelFieldsForm] | None
    label: str
    create: Callable[..., Any] | None


RECORD_KINDS: dict[str, RecordKind] = {
    "procedure": RecordKind(Procedure, ProcedureForm, "Index procedure", services.procedure_record),
    "radiation": RecordKind(RadiationCourse, RadiationForm, "Radiation course", services.radiation_record),
    "lesion": RecordKind(Lesion, LesionForm, "Lesion", _lesion_add),
    "adverse-event": RecordKind(AdverseEvent, AdverseEventForm, "Adverse event", services.adverse_event_report),
    "skeletal-event": RecordKind(SkeletalEvent, SkeletalEventForm, "Skeletal-related event", services.skeletal_event_report),
    "imaging": RecordKind(ImagingAssessment, ImagingAssessmentForm, "Imaging follow-up", services.imaging_assessment_record),
    "exit": RecordKind(StudyExit, StudyExitForm, "Study exit", services.study_exit_record),
    "visit": RecordKind(Visit, None, "Visit data", None),
}


class CorrectionForm(forms.Form):
    reason = forms.CharField(
        label="Reason for change",
        error_messages={"required": "A reason is required: every change to entered data is audited."},
        help_text="Required: every change is audited (who, when, old → new, why).",
        widget=forms.Textarea(attrs={"rows": 2}),
    )
    expected_version = forms.IntegerField(widget=forms.HiddenInput)


class VoidForm(CorrectionForm):
    reason = forms.CharField(
        label="Reason for voiding",
        error_messages={"required": "A reason is required to void a record."},
        help_text="Required. The record stays in the audit history, marked void with your reason.",
        widget=forms.Textarea(attrs={"rows": 2}),
    )


def _kind(kind: str) -> RecordKind:
    try:
        return RECORD_KINDS[kind]
    except KeyError as exc:
        raise Http404(f"No record type {kind}.") from exc


def _writable_patient(request, study_id: str):
    patient = patient_get(request.user, study_id)
    if not can_write(request.user, patient.site_id):
        raise PermissionDenied("You may read this patient but not enter data for this site.")
    return patient


def _record(kind: RecordKind, patient, pk: int):
    return get_object_or_404(kind.model.objects.active().filter(patient=patient), pk=pk)


def _back_url(request, study_id: str) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        return target
    return reverse("patient_detail", kwargs={"study_id": study_id})


def display_value(field: forms.Field | None, value: Any) -> str:
    """A value as a person reads it: choice labels, yes/no, 29 Nov 2026, '—' for blank."""
    if value is None or value == "":
        return "—"
    if isinstance(value, bool):
        return "Yes" if value else "No"
    choices = getattr(field, "choices", None)
    if choices:
        labels = {str(k): str(v) for k, v in choices}
        if str(value) in labels:
            return labels[str(value)]
    if hasattr(value, "strftime"):
        return f"{value.day} {value:%b %Y}"
    return str(value)


def record_summary(kind: RecordKind, record) -> list[tuple[str, str]]:
    """(label, value) pairs of a record's form fields, for the void and correct pages."""
    if kind.form_class is None:
        return [("Visit", record.get_visit_code_display()), ("Visit date", display_value(None, record.visit_date))]
    fields = kind.form_class.model_form_fields()
    return [(str(fields[n].label), display_value(fields[n], getattr(record, n))) for n in kind.form_class.model_fields]


@clinical_page
def record_add(request, study_id: str, kind: str):
    spec = _kind(kind)
    if spec.create is None:
        raise Http404("Visits are entered from the visit page.")
    patient = _writable_patient(request, study_id)
    back = _back_url(request, study_id)
    if spec.form_class is None:
        raise Http404("Visits are entered from the visit page.")
    form = spec.form_class(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            spec.create(actor=request.user, patient=patient, data=form.record_data())
        except DomainValidationError as exc:
            domain_errors_to_form(form, exc)
        else:
            messages.success(request, f"{spec.label} recorded for {study_id}.")
            return redirect(back)
    return render(request, "web/event_form.html", {"form": form, "patient": patient, "label": spec.label, "back": back})


def _changes(form: ModelFieldsForm, record) -> dict[str, Any]:
    return {name: value for name, value in form.record_data().items() if value != getattr(record, name)}


@clinical_page
def record_correct(request, study_id: str, kind: str, pk: int):
    """Change a record with a reason; 'Review changes' shows old → new before 'Save correction'."""
    spec = _kind(kind)
    if spec.form_class is None:
        return redirect(
            "visit_entry", study_id=study_id, visit_code=_record(spec, _writable_patient(request, study_id), pk).visit_code
        )
    patient = _writable_patient(request, study_id)
    record = _record(spec, patient, pk)
    initial = {name: getattr(record, name) for name in spec.form_class.model_fields}
    form = spec.form_class(request.POST or None, initial=initial)
    correction = CorrectionForm(request.POST or None, initial={"expected_version": record.version})
    diff = []
    if request.method == "POST" and form.is_valid() & correction.is_valid():
        changes = _changes(form, record)
        if not changes:
            form.add_error(None, "Nothing changed: edit a value, or cancel.")
        else:
            diff = [
                (form.fields[n].label, display_value(form.fields[n], getattr(record, n)), display_value(form.fields[n], v))
                for n, v in changes.items()
            ]
            if request.POST.get("action") == "save" and _update(request, record, changes, form, correction):
                messages.success(
                    request, f"{spec.label} corrected for {study_id}: " + "; ".join(f"{f} {o} → {n}" for f, o, n in diff)
                )
                return redirect("patient_detail", study_id=study_id)
    return render(
        request,
        "web/record_correct.html",
        {"form": form, "correction": correction, "patient": patient, "label": spec.label, "diff": diff},
    )


def _update(request, record, changes: dict, form: forms.Form, correction: forms.Form) -> bool:
    try:
        services.clinical_record_update(
            actor=request.user,
            instance=record,
            changes=changes,
            reason=correction.cleaned_data["reason"],
            expected_version=correction.cleaned_data["expected_version"],
        )
    except DomainValidationError as exc:
        for target, keys in ((correction, {"reason"}), (form, set(exc.errors) - {"reason"})):
            if keys:
                domain_errors_to_form(target, DomainValidationError({k: exc.errors[k] for k in keys}))
        return False
    except ConflictError as exc:
        form.add_error(None, str(exc))
        return False
    return True


def _void(actor, spec: RecordKind, record, data: dict) -> None:
    kwargs = {"actor": actor, "reason": data["reason"], "expected_version": data["expected_version"]}
    if spec.model is Visit:
        services.visit_data_void(visit=record, **kwargs)
    else:
        services.clinical_record_void(instance=record, **kwargs)


@clinical_page
def record_void(request, study_id: str, kind: str, pk: int):
    """Void a record with a reason (visits: their entered data); nothing is deleted."""
    spec = _kind(kind)
    patient = _writable_patient(request, study_id)
    record = _record(spec, patient, pk)
    form = VoidForm(request.POST or None, initial={"expected_version": record.version})
    if request.method == "POST" and form.is_valid():
        try:
            _void(request.user, spec, record, form.cleaned_data)
        except DomainValidationError as exc:
            domain_errors_to_form(form, exc)
        except ConflictError as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, f"{spec.label} voided for {study_id}.")
            return redirect("patient_detail", study_id=study_id)
    return render(
        request,
        "web/record_void.html",
        {"form": form, "patient": patient, "label": spec.label, "summary": record_summary(spec, record)},
    )
