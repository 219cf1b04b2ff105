"""Coordinator pages of the PRO app: a patient's questionnaires (contact, send now, resend, QR code), the
invitation log (page + CSV) and compliance by site × visit."""

from __future__ import annotations

import csv
import io

import qrcode
import qrcode.image.svg
from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from pro import actions, selectors, sending, services
from pro.models import Invitation, PatientContact
from trials.access import access_for, scope_queryset
from trials.domain import schedule
from trials.guards import clinical_page
from trials.models import Patient, Visit
from trials.web.selectors.patients import readable_sites


class ContactForm(forms.Form):
    email = forms.EmailField(label="E-mail address", max_length=254, help_text="Used only to send questionnaire links.")
    phone = forms.CharField(label="Phone (optional)", max_length=32, required=False)
    preferred_language = forms.ChoiceField(label="Language", choices=[("en", "English"), ("es", "Español")])
    consented = forms.BooleanField(label="The patient agreed to receive questionnaire invitations", required=False, initial=True)


def _patient(request, study_id: str) -> Patient:
    return get_object_or_404(scope_queryset(request.user, Patient.objects.active()).select_related("site"), study_id=study_id)


@clinical_page
def patient_questionnaires(request, study_id: str):
    """The patient's questionnaires: contact (own site's staff only), one row per follow-up visit, the log."""
    patient = _patient(request, study_id)
    access = access_for(request.user)
    can_read_contact = access.can_read_contact(patient.site_id)
    can_write = access.can_write_site(patient.site_id) and can_read_contact
    contact = PatientContact.objects.filter(patient=patient).first()
    form = None
    if can_write:
        initial = {"preferred_language": "en", "consented": True}
        if contact is not None and contact.erased_at is None:
            initial = {
                "email": contact.email,
                "phone": contact.phone,
                "preferred_language": contact.preferred_language,
                "consented": contact.consented,
            }
        form = ContactForm(request.POST or None, initial=initial)
        if request.method == "POST" and form.is_valid():
            try:
                services.set_contact(patient, actor=request.user, **form.cleaned_data)
            except ValidationError as exc:
                for name, errors in exc.message_dict.items():
                    form.add_error(name if name in form.fields else None, errors)
            else:
                messages.success(request, "Contact saved (encrypted).")
                return redirect("pro_patient", study_id=patient.study_id)
    invitations = {i.visit_id: i for i in Invitation.objects.filter(patient=patient).prefetch_related("events")}
    rows = [
        {"visit": v, "invitation": invitations.get(v.pk), "status": v.status_on(patient.site.local_date())}
        for v in Visit.objects.filter(patient=patient, visit_code__in=sending.visit_codes()).select_related("patient")
    ]
    return render(
        request,
        "pro/patient_questionnaires.html",
        {
            "patient": patient,
            "contact": contact,
            "shown_email": contact.email if (contact and can_read_contact and contact.erased_at is None) else None,
            "can_read_contact": can_read_contact,
            "can_write": can_write,
            "form": form,
            "rows": rows,
        },
    )


def _visit_for_action(request, study_id: str, visit_code: str) -> Visit:
    patient = _patient(request, study_id)
    access = access_for(request.user)
    if not (access.can_write_site(patient.site_id) and access.can_read_contact(patient.site_id)):
        raise PermissionDenied("Only the coordinators of the patient's site send questionnaires.")
    return get_object_or_404(Visit.objects.select_related("patient__site"), patient=patient, visit_code=visit_code)


@clinical_page
@require_POST
def send_now(request, study_id: str, visit_code: str):
    """Send now / Resend."""
    visit = _visit_for_action(request, study_id, visit_code)
    try:
        outcome = actions.send_now(visit, actor=request.user)
    except actions.ActionRefused as exc:
        messages.error(request, str(exc))
    else:
        messages.success(
            request, f"{visit.get_visit_code_display()} questionnaire {'sent' if outcome == 'invited' else 're-sent'}."
        )
    return redirect("pro_patient", study_id=study_id)


@clinical_page
@require_POST
def clinic_link(request, study_id: str, visit_code: str):
    """A QR code and printable link for a tablet in clinic (a fresh token each time; logged)."""
    visit = _visit_for_action(request, study_id, visit_code)
    try:
        url = actions.clinic_link(visit, actor=request.user)
    except actions.ActionRefused as exc:
        messages.error(request, str(exc))
        return redirect("pro_patient", study_id=study_id)
    svg = qrcode.make(url, image_factory=qrcode.image.svg.SvgPathImage, box_size=12, border=2).to_string(encoding="unicode")
    response = render(request, "pro/clinic_link.html", {"visit": visit, "patient": visit.patient, "url": url, "qr_svg": svg})
    response["Cache-Control"] = "no-store"
    return response


def _log_filters(request) -> dict:
    site = request.GET.get("site") or ""
    return {
        "site_id": int(site) if site.isdigit() else None,
        "visit_code": request.GET.get("visit") if request.GET.get("visit") in schedule.VISIT_CODES else None,
        "study_id": (request.GET.get("patient") or "").strip() or None,
    }


@clinical_page
def invitation_log_page(request):
    filters = _log_filters(request)
    page = Paginator(selectors.invitation_log(request.user, **filters), 100).get_page(request.GET.get("page"))
    return render(
        request,
        "pro/invitation_log.html",
        {
            "page": page,
            "filters": filters,
            "sites": readable_sites(request.user),
            "visits": schedule.VISIT_CHOICES,
            "query": request.GET.urlencode(),
        },
    )


LOG_COLUMNS = ["at_utc", "site", "study_id", "visit", "event", "number", "detail", "by"]


@clinical_page
def invitation_log_csv(request):
    """The invitation log as CSV (streamed; no contact detail is part of any row)."""
    events = selectors.invitation_log(request.user, **_log_filters(request))

    def rows():
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(LOG_COLUMNS)
        for e in events.iterator(chunk_size=2000):
            writer.writerow(
                [
                    e.at.isoformat(),
                    e.invitation.patient.site.code,
                    e.invitation.patient.study_id,
                    e.invitation.visit_code,
                    e.kind,
                    e.sequence or "",
                    e.detail,
                    e.actor.get_username() if e.actor else "system",
                ]
            )
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
        yield buffer.getvalue()

    response = StreamingHttpResponse(rows(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="invitation-log.csv"'
    return response


@clinical_page
def compliance_page(request):
    return render(request, "pro/compliance.html", {"rows": selectors.compliance(request.user)})
