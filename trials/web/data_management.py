"""Web pages for data management (issue 6): queries, visit sign-off, locks and the export downloads.

Thin views: rows come from ``scope_queryset``, every decision from the services
(``data_queries``, ``signoff``, ``locking``); their errors are shown on the page.
"""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path

from trials.access import access_for, scope_queryset
from trials.errors import DomainValidationError
from trials.models import DataQuery, Lock, Patient, QueryStatus, Role
from trials.services import data_queries, locking, signoff
from trials.web.guards import clinical_page
from trials.web.selectors.patients import visit_get


class MessageForm(forms.Form):
    message = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False)


class SignForm(forms.Form):
    meaning = forms.CharField(initial=signoff.DEFAULT_MEANING, max_length=200)
    password = forms.CharField(widget=forms.PasswordInput, help_text="Re-enter your password: this is your electronic signature.")


class LockForm(forms.Form):
    patient = forms.CharField(required=False, help_text="Study ID; leave empty to lock the whole study.")
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}))


def scoped_queries(user):
    return scope_queryset(user, DataQuery.objects.select_related("patient", "content_type").prefetch_related("responses__author"))


def open_queries_for(user, limit: int = 20) -> list[DataQuery]:
    """Open queries the user's sites must answer (shown on the coordinator worklist)."""
    return list(scoped_queries(user).filter(status=QueryStatus.OPEN).order_by("opened_at")[:limit])


def _apply(request, action, **kwargs) -> bool:
    try:
        action(actor=request.user, **kwargs)
    except DomainValidationError as exc:
        for field, msgs in exc.errors.items():
            messages.error(request, f"{field.replace('_', ' ').capitalize()}: {' '.join(msgs)}")
        return False
    return True


@clinical_page
def query_list(request):
    status = request.GET.get("status") or QueryStatus.OPEN
    queries = scoped_queries(request.user)
    if status in QueryStatus.values:
        queries = queries.filter(status=status)
    return render(request, "trials/data_management/query_list.html", {
        "queries": queries.order_by("-opened_at")[:200], "status": status, "statuses": QueryStatus.choices,
    })


QUERY_ACTIONS = {
    "answer": data_queries.data_query_answer,
    "close": data_queries.data_query_close,
    "reopen": data_queries.data_query_reopen,
}


@clinical_page
def query_detail(request, pk: int):
    query = get_object_or_404(scoped_queries(request.user), pk=pk)
    form = MessageForm(request.POST or None)
    if request.method == "POST":
        action = QUERY_ACTIONS.get(request.POST.get("action", ""))
        if action is None:
            raise PermissionDenied("Unknown action.")
        if form.is_valid() and _apply(request, action, query=query, message=form.cleaned_data["message"]):
            messages.success(request, f"Query #{query.pk}: {request.POST['action']} recorded.")
            return redirect("dm_query_detail", pk=query.pk)
    access = access_for(request.user)
    return render(request, "trials/data_management/query_detail.html", {
        "query": query, "form": form, "current_value": getattr(query.record, query.field_name, None),
        "can_answer": access.can_write_site(query.patient.site_id) and query.status != QueryStatus.CLOSED,
        "is_data_manager": Role.DATA_MANAGER in access.roles,
    })


@clinical_page
def visit_sign(request, study_id: str, visit_code: str):
    visit = visit_get(request.user, study_id, visit_code)
    form = SignForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            signoff.visit_sign(actor=request.user, visit=visit, password=form.cleaned_data["password"],
                               meaning=form.cleaned_data["meaning"])
        except DomainValidationError as exc:
            for field, msgs in exc.errors.items():
                form.add_error(field if field in form.fields else None, " ".join(msgs))
        else:
            messages.success(request, f"{visit.definition.label} of {study_id} signed.")
            return redirect("patient_detail", study_id=study_id)
    return render(request, "trials/data_management/visit_sign.html", {
        "visit": visit, "patient": visit.patient, "form": form, "signatures": visit.signatures.select_related("signer"),
    })


@clinical_page
def lock_list(request):
    access = access_for(request.user)
    is_data_manager = Role.DATA_MANAGER in access.roles or request.user.is_superuser
    form = LockForm(request.POST or None)
    if request.method == "POST":
        if not is_data_manager:
            raise PermissionDenied("Only a data manager may lock or unlock data.")
        if request.POST.get("unlock"):
            lock = get_object_or_404(Lock, pk=request.POST["unlock"])
            if _apply(request, locking.lock_release, lock=lock, reason=request.POST.get("unlock_reason", "")):
                messages.success(request, "Unlocked.")
                return redirect("dm_locks")
        elif form.is_valid():
            if _lock_from_form(request, form):
                messages.success(request, "Locked.")
                return redirect("dm_locks")
    locks = Lock.objects.select_related("patient", "locked_by", "unlocked_by").order_by("unlocked_at", "-locked_at")
    if not access.reads_all:
        locks = scope_queryset(request.user, locks) | locks.filter(patient__isnull=True)
    return render(request, "trials/data_management/locks.html", {"locks": locks[:200], "form": form, "is_data_manager": is_data_manager})


def _lock_from_form(request, form: LockForm) -> bool:
    study_id = form.cleaned_data["patient"].strip()
    if not study_id:
        return _apply(request, locking.study_lock, reason=form.cleaned_data["reason"])
    patient = scope_queryset(request.user, Patient.objects.active()).filter(study_id=study_id).first()
    if patient is None:
        form.add_error("patient", f"No patient {study_id}.")
        return False
    return _apply(request, locking.patient_lock, patient=patient, reason=form.cleaned_data["reason"])


@clinical_page
def exports(request):
    """Download links; the files are served by the API (the session authenticates there too)."""
    return render(request, "trials/data_management/exports.html", {})


urlpatterns = [
    path("queries/", query_list, name="dm_queries"),
    path("queries/<int:pk>/", query_detail, name="dm_query_detail"),
    path("patients/<str:study_id>/visits/<slug:visit_code>/sign/", visit_sign, name="dm_visit_sign"),
    path("locks/", lock_list, name="dm_locks"),
    path("exports/", exports, name="dm_exports"),
]
