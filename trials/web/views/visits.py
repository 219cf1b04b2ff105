"""Visit entry and correction (BPI, opioids with live MME), and the visit's audit history."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect, render
from django.utils import timezone

from trials import services
from trials.errors import ConflictError, DomainValidationError
from trials.web.forms.errors import domain_errors_to_form, row_errors_to_formset
from trials.web.forms.visit import MedicationFormSet, VisitForm, medication_initial, mme_table_for_page
from trials.web.guards import can_write, clinical_page
from trials.web.selectors.history import visit_audit_trail
from trials.web.selectors.patients import visit_get
from trials.web.selectors.worklist import exit_date_of

MED_PREFIX = "med"


@clinical_page
def visit_entry(request, study_id: str, visit_code: str):
    visit = visit_get(request.user, study_id, visit_code)
    if not can_write(request.user, visit.patient.site_id):
        raise PermissionDenied("You may read this visit but not enter data for this site.")
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
