"""Quick add of an adverse event or a skeletal-related event from a patient or visit page."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme

from trials import services
from trials.errors import DomainValidationError
from trials.web.forms.clinical import AdverseEventForm, SkeletalEventForm
from trials.web.forms.errors import domain_errors_to_form
from trials.web.guards import can_write, clinical_page
from trials.web.selectors.patients import patient_get

EVENT_KINDS = {
    "adverse-event": (AdverseEventForm, services.adverse_event_report, "Adverse event"),
    "skeletal-event": (SkeletalEventForm, services.skeletal_event_report, "Skeletal-related event"),
}


def _back_url(request, study_id: str) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        return target
    return reverse("patient_detail", kwargs={"study_id": study_id})


@clinical_page
def event_add(request, study_id: str, kind: str):
    form_class, report, label = EVENT_KINDS[kind]
    patient = patient_get(request.user, study_id)
    if not can_write(request.user, patient.site_id):
        raise PermissionDenied("You may not enter data for this site.")
    back = _back_url(request, study_id)
    form = form_class(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            report(actor=request.user, patient=patient, data=form.cleaned_data)
        except DomainValidationError as exc:
            domain_errors_to_form(form, exc)
        else:
            messages.success(request, f"{label} recorded for {study_id}.")
            return redirect(back)
    return render(request, "web/event_form.html", {"form": form, "patient": patient, "label": label, "back": back})
