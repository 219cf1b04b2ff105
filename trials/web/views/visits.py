"""Visit entry and correction (BPI, opioids with live MME), the read-only visit page with signing, and the audit history."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from trials import services
from trials.access import access_for
from trials.errors import ConflictError, DomainValidationError
from trials.guards import can_write, clinical_page
from trials.models import OpioidStatus
from trials.services import signoff
from trials.services.patient_reports import visit_opioid_review as opioid_review
from trials.web.forms.errors import ROW_KEY, domain_errors_to_form, row_errors_to_formset
from trials.web.forms.signature import SignForm
from trials.web.forms.visit import MedicationFormSet, VisitForm, medication_initial, mme_table_for_page
from trials.web.selectors.history import visit_audit_trail
from trials.web.selectors.patients import next_visit_to_enter, visit_get
from trials.web.selectors.visit_detail import visit_view
from trials.web.selectors.worklist import exit_date_of

MED_PREFIX = "med"


@clinical_page
def visit_entry(request, study_id: str, visit_code: str):
    visit = visit_get(request.user, study_id, visit_code)
    if not can_write(request.user, visit.patient.site_id):
        raise PermissionDenied(
            "You may read this visit but not enter data for this site: open it from the patient page to view it."
        )
    today = visit.patient.site.local_date()  # the site's calendar day, not the server's
    if request.method == "POST":
        form = VisitForm(request.POST, visit=visit)
        formset = MedicationFormSet(request.POST, prefix=MED_PREFIX)
        if _check(visit, form, formset) and _save(request, visit, form, formset):
            messages.success(request, f"{visit.definition.label} saved for {study_id}.")
            return _after_save(request, visit, today)
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
            "next_visit": next_visit_to_enter(visit, today=today),
        },
    )


def _visit_data(form: VisitForm, rows: list) -> services.VisitData:
    data = getattr(form, "cleaned_data", {})
    return services.VisitData(
        visit_date=data.get("visit_date"),
        pain=form.pain_values(),
        opioid_status=data.get("opioid_status") or OpioidStatus.UNKNOWN,
        medications=[row.as_service_row() for row in rows],
        missing_codes=form.missing_codes() if hasattr(form, "cleaned_data") else {},
        not_done_reason=(data.get("not_done_reason") or "").strip(),
    )


def _submitted_rows(formset) -> list:
    return [row for row in formset.forms if not row.is_blank()]


def _check(visit, form: VisitForm, formset) -> bool:
    """Form parsing, the service's rules and the out-of-window confirmation, all reported in one round."""
    form_ok, formset_ok = form.is_valid(), formset.is_valid()
    rows = _submitted_rows(formset)
    problems = services.visit_data_check(visit=visit, data=_visit_data(form, rows))
    # A value the form could not parse is reported once, by the form; the service's rules fill in the rest.
    fresh = {k: v for k, v in problems.items() if not _already_reported(k, form, rows)}
    if fresh:
        _attach(form, formset, rows, DomainValidationError(fresh))
    date = form.cleaned_data.get("visit_date")
    if date is not None and "visit_date" not in form.errors and not form.window_confirmed(date):
        form.add_error("visit_date", form.out_of_window_message(date))
    return form_ok and formset_ok and not fresh and not form.errors


def _already_reported(key: str, form: VisitForm, rows: list) -> bool:
    name = key.removeprefix("pain.")
    if name in form.fields:
        return name in form.errors
    match = ROW_KEY.match(key)
    return bool(match and int(match["index"]) < len(rows) and match["field"] in rows[int(match["index"])].errors)


def _attach(form: VisitForm, formset, rows: list, exc: DomainValidationError) -> None:
    """Each service message beside its field: BPI items, the date, the opioid answer, or the opioid row."""
    used = row_errors_to_formset(formset, exc, list_name="medications", row_forms=rows)
    # "medications" (no row) is about the opioid answer, so it goes beside that choice.
    rest: dict[str, list[str]] = {}
    for key, value in exc.errors.items():
        if key not in used:
            rest.setdefault("opioid_status" if key == "medications" else key, []).extend(value)
    if rest:
        domain_errors_to_form(form, DomainValidationError(rest), prefix="pain.")


def _save(request, visit, form: VisitForm, formset) -> bool:
    """Call the service; on a domain error put each message beside its field and return False."""
    rows = _submitted_rows(formset)
    try:
        services.visit_record(
            actor=request.user,
            visit=visit,
            data=_visit_data(form, rows),
            reason=form.cleaned_data.get("reason"),
            expected_version=form.cleaned_data["expected_version"],
        )
    except DomainValidationError as exc:
        _attach(form, formset, rows, exc)
        return False
    except ConflictError as exc:
        form.add_error(None, str(exc))
        return False
    return True


def _after_save(request, visit, today):
    """'Save and go to the next visit' opens the next visit that can be entered; otherwise back to the patient."""
    if request.POST.get("then") == "next":
        following = next_visit_to_enter(visit, today=today)
        if following is not None:
            return redirect("visit_entry", study_id=visit.patient.study_id, visit_code=following.visit_code)
        messages.info(request, "No later visit is open for entry yet.")
    return redirect("patient_detail", study_id=visit.patient.study_id)


@clinical_page
def visit_history(request, study_id: str, visit_code: str):
    visit = visit_get(request.user, study_id, visit_code)
    return render(
        request, "web/visit_history.html", {"visit": visit, "patient": visit.patient, "entries": visit_audit_trail(visit)}
    )


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
    return render(
        request,
        "web/visit_detail.html",
        {
            "visit": visit,
            "patient": visit.patient,
            "v": view,
            "form": form,
            "status": visit.status_on(visit.patient.site.local_date(), exit_date_of(visit.patient)),
            "can_sign": can_sign and visit.has_data and view.lock is None,
            "can_write": can_write(request.user, visit.patient.site_id) and view.lock is None,
            "can_query": access.is_data_manager,
            "entries": visit_audit_trail(visit),
        },
    )


def _sign(request, visit, form: SignForm) -> bool:
    try:
        signoff.visit_sign(
            actor=request.user, visit=visit, password=form.cleaned_data["password"], meaning=form.cleaned_data["meaning"]
        )
    except DomainValidationError as exc:
        for field, msgs in exc.errors.items():
            form.add_error(field if field in form.fields else None, " ".join(msgs))
        return False
    return True


@require_POST
@clinical_page
def visit_opioid_review(request, study_id: str, visit_code: str):
    """Staff confirm the patient-reported opioid answers (issue 15): from then on they count as MME."""
    visit = visit_get(request.user, study_id, visit_code)
    version = request.POST.get("expected_version", "")
    try:
        opioid_review(actor=request.user, visit=visit, expected_version=int(version) if version.isdigit() else None)
    except DomainValidationError as exc:
        messages.error(request, " ".join(m for msgs in exc.errors.values() for m in msgs))
    except ConflictError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"Opioid answers of {visit.definition.label} reviewed for {study_id}.")
    return redirect("visit_detail", study_id=study_id, visit_code=visit_code)
