"""Visit entry and correction (BPI, opioids with live MME), the read-only visit page with signing, and the audit history."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect, render
from django.utils import timezone

from trials import services
from trials.access import access_for
from trials.errors import ConflictError, DomainValidationError
from trials.services import signoff
from trials.web.forms.errors import domain_errors_to_form, row_errors_to_formset
from trials.web.forms.signature import SignForm
from trials.web.forms.visit import MedicationFormSet, VisitForm, medication_initial, mme_table_for_page
from trials.web.guards import can_write, clinical_page
from trials.web.selectors.history import visit_audit_trail
from trials.web.selectors.patients import visit_get
from trials.web.selectors.visit_detail import visit_view
from trials.web.selectors.worklist import exit_date_of

MED_PREFIX = "med"


@clinical_page
def visit_entry(request, study_id: str, visit_code: str):
    visit = visit_get(request.user, study_id, visit_code)
    if not can_write(request.user, visit.patient.site_id):
        raise PermissionDenied("You may read this visit but not enter data for this site: open it from the patient page to view it.")
    today = timezone.localdate()
    if request.method == "POST":
        form = VisitForm(request.POST, visit=visit)
        formset = MedicationFormSet(request.POST, prefix=MED_PREFIX)
        if form.is_valid() and formset.is_valid() and _save(request, visit, form, formset):
            messages.success(request, f"{visit.definition.label} saved for {study_id}.")
            return redirect("patient_detail", study_id=study_id)
    else:
        form = VisitForm(initial=VisitForm.initial_for(visit, today=today), visit=visit)
        formset = MedicationFormSet(initial=medication_initial(visit), prefix=MED_PREFIX)
    return render(
        request,
        "web/visit_form.html",
        {
            "visit": visit,
            "patient": visit.patient,
            "status": visit.status_on(today, exit_date_of(visit.patient)),
            "form": form,
            "formset": formset,
            "mme_table": mme_table_for_page(),
        },
    )


def _save(request, visit, form: VisitForm, formset) -> bool:
    """Call the service; on a domain error put each message beside its field and return False."""
    rows = [row for row in formset.forms if not row.is_blank()]
    data = services.VisitData(
        visit_date=form.cleaned_data["visit_date"],
        pain=form.pain_values(),
        opioid_status=form.cleaned_data["opioid_status"],
        medications=[row.as_service_row() for row in rows],
    )
    try:
        services.visit_record(
            actor=request.user,
            visit=visit,
            data=data,
            reason=form.cleaned_data.get("reason"),
            expected_version=form.cleaned_data["expected_version"],
        )
    except DomainValidationError as exc:
        used = row_errors_to_formset(formset, exc, list_name="medications", row_forms=rows)
        # "medications" (no row) is about the opioid answer, so it goes beside that choice.
        rest: dict[str, list[str]] = {}
        for key, value in exc.errors.items():
            if key not in used:
                rest.setdefault("opioid_status" if key == "medications" else key, []).extend(value)
        if rest:
            domain_errors_to_form(form, DomainValidationError(rest), prefix="pain.")
        return False
    except ConflictError as exc:
        form.add_error(None, str(exc))
        return False
    return True


@clinical_page
def visit_history(request, study_id: str, visit_code: str):
    visit = visit_get(request.user, study_id, visit_code)
    return render(request, "web/visit_history.html", {"visit": visit, "patient": visit.patient, "entries": visit_audit_trail(visit)})


@clinical_page
def visit_detail(request, study_id: str, visit_code: str):
    """Every value of the visit read-only, its open queries and history; the site investigator signs here."""
    visit = visit_get(request.user, study_id, visit_code)
    access = access_for(request.user)
    can_sign = access.can_sign(visit.patient.site_id)
    form = SignForm(request.POST or None)
    if request.method == "POST":
        if not can_sign:
            raise PermissionDenied("Only a site investigator of this patient's site may sign its visits.")
        if form.is_valid() and _sign(request, visit, form):
            messages.success(request, f"{visit.definition.label} of {study_id} signed.")
            return redirect("visit_detail", study_id=study_id, visit_code=visit_code)
    view = visit_view(visit)
    return render(request, "web/visit_detail.html", {
        "visit": visit, "patient": visit.patient, "v": view, "form": form,
        "status": visit.status_on(timezone.localdate(), exit_date_of(visit.patient)),
        "can_sign": can_sign and visit.has_data and view.lock is None,
        "can_write": can_write(request.user, visit.patient.site_id) and view.lock is None,
        "can_query": access.is_data_manager, "entries": visit_audit_trail(visit),
    })


def _sign(request, visit, form: SignForm) -> bool:
    try:
        signoff.visit_sign(actor=request.user, visit=visit, password=form.cleaned_data["password"], meaning=form.cleaned_data["meaning"])
    except DomainValidationError as exc:
        for field, msgs in exc.errors.items():
            form.add_error(field if field in form.fields else None, " ".join(msgs))
        return False
    return True
