"""Patient list and search, the patient timeline, and enrollment with an eligibility check first."""

from __future__ import annotations

from django.contrib import messages
from django.core.paginator import Paginator
from django.shortcuts import redirect, render

from trials import services
from trials.access import access_for
from trials.domain.eligibility import failed
from trials.errors import DomainValidationError
from trials.guards import can_write, clinical_page
from trials.web.forms.clinical import LesionForm, PatientForm
from trials.web.forms.errors import domain_errors_to_form
from trials.web.selectors.patients import patient_list as select_patients
from trials.web.selectors.patients import patient_timeline, writable_sites

PAGE_SIZE = 50


@clinical_page
def patient_list(request):
    search = request.GET.get("q", "").strip()
    page = Paginator(select_patients(request.user, search=search), PAGE_SIZE).get_page(request.GET.get("page"))
    return render(
        request,
        "web/patient_list.html",
        {"page": page, "search": search, "can_enroll": writable_sites(request.user).exists()},
    )


@clinical_page
def patient_detail(request, study_id: str):
    timeline = patient_timeline(request.user, study_id)
    return render(
        request,
        "web/patient_detail.html",
        {
            "t": timeline,
            "patient": timeline.patient,
            "can_write": can_write(request.user, timeline.patient.site_id) and timeline.lock is None,  # locked: no Correct/Void
            "can_sign": access_for(request.user).can_sign(timeline.patient.site_id),
        },
    )


@clinical_page
def patient_enroll(request):
    """Two steps on one form: "Check eligibility" shows each docs/domain.md §1 criterion, "Enroll" saves."""
    sites = writable_sites(request.user)
    if not sites.exists():
        messages.error(request, "You may not enroll patients: no site where you enter data.")
        return redirect("patient_list")
    allow_deviation = access_for(request.user).is_data_manager
    bound = request.method == "POST"
    patient_form = PatientForm(request.POST if bound else None, sites=sites, allow_deviation=allow_deviation)
    lesion_form = LesionForm(request.POST if bound else None, prefix="lesion")
    eligibility = None
    if bound and patient_form.is_valid() and lesion_form.is_valid():
        eligibility = services.patient_eligibility(
            patient_data=patient_form.patient_data(), lesion_data=lesion_form.lesion_data()
        )
        if request.POST.get("action") == "enroll":
            patient = _enroll(request, patient_form, lesion_form)
            if patient is not None:
                messages.success(request, f"Enrolled {patient.study_id}; its visit schedule is ready.")
                return redirect("patient_detail", study_id=patient.study_id)
    return render(
        request,
        "web/patient_enroll.html",
        {
            "patient_form": patient_form,
            "lesion_form": lesion_form,
            "eligibility": eligibility,
            "eligible": eligibility is not None and not failed(eligibility),
        },
    )


def _enroll(request, patient_form: PatientForm, lesion_form: LesionForm):
    try:
        return services.patient_enroll(
            actor=request.user,
            site=patient_form.cleaned_data["site"],
            patient_data=patient_form.patient_data(),
            lesion_data=lesion_form.lesion_data(),
            protocol_deviation=patient_form.cleaned_data.get("protocol_deviation", ""),
        )
    except DomainValidationError as exc:
        lesion_errors = {k: v for k, v in exc.errors.items() if k.startswith("lesion.")}
        patient_errors = {k: v for k, v in exc.errors.items() if k not in lesion_errors}
        if patient_errors:
            domain_errors_to_form(patient_form, DomainValidationError(patient_errors))
        if lesion_errors:
            domain_errors_to_form(lesion_form, DomainValidationError(lesion_errors), prefix="lesion.")
        return None
