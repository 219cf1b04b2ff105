"""Web pages for data management (issue 6): queries, visit sign-off, locks and the export downloads.

Thin views: rows come from ``scope_queryset``, every decision from the services
(``data_queries``, ``signoff``, ``locking``); their errors are shown on the page.
"""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path, reverse

from trials.access import access_for, scope_queryset
from trials.errors import DomainValidationError
from trials.models import DataQuery, Lock, LockScope, Patient, QueryStatus, Site, Visit
from trials.services import data_queries, locking
from trials.web.guards import clinical_page
from trials.web.imports import import_detail, import_list
from trials.web.labels import model_for, record_field_label, value_label
from trials.web.views.visits import visit_detail


class MessageForm(forms.Form):
    message = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False)


class LockForm(forms.Form):
    """What to lock, chosen explicitly; the lock is applied only after a confirmation step."""

    scope = forms.ChoiceField(label="What to lock", choices=LockScope.choices, widget=forms.RadioSelect)
    patient = forms.CharField(required=False, label="Patient (study ID)", help_text="For a patient lock, e.g. ATL-001.")
    site = forms.ModelChoiceField(queryset=Site.objects.all(), required=False, label="Site", help_text="For a site lock.")
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), help_text="E.g. the data cut-off this lock serves.")

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.user = user

    def clean(self):
        data = super().clean()
        scope = data.get("scope")
        if scope == LockScope.PATIENT:
            study_id = (data.get("patient") or "").strip()
            patient = scope_queryset(self.user, Patient.objects.active()).filter(study_id=study_id).first() if study_id else None
            if patient is None:
                self.add_error("patient", f"No patient {study_id}." if study_id else "Enter the study ID of the patient to lock.")
            data["patient_obj"] = patient
        elif scope == LockScope.SITE and data.get("site") is None:
            self.add_error("site", "Choose the site to lock.")
        return data

    def target(self) -> str:
        scope = self.cleaned_data["scope"]
        if scope == LockScope.PATIENT:
            return f"patient {self.cleaned_data['patient_obj'].study_id}"
        if scope == LockScope.SITE:
            return f"every patient of site {self.cleaned_data['site'].code} ({self.cleaned_data['site'].name})"
        return "the whole study: every patient of every site"

    def affected_patients(self) -> int:
        scope = self.cleaned_data["scope"]
        if scope == LockScope.PATIENT:
            return 1
        patients = Patient.objects.active()
        if scope == LockScope.SITE:
            patients = patients.filter(site=self.cleaned_data["site"])
        return patients.count()


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
    return render(
        request,
        "trials/data_management/query_list.html",
        {
            "queries": queries.order_by("-opened_at")[:200],
            "status": status,
            "statuses": QueryStatus.choices,
        },
    )


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
    record = query.record
    return render(
        request,
        "trials/data_management/query_detail.html",
        {
            "query": query,
            "form": form,
            "current_value": value_label(type(record), query.field_name, getattr(record, query.field_name, None)),
            "record_page": _record_page(record),
            "can_answer": access.can_write_site(query.patient.site_id) and query.status != QueryStatus.CLOSED,
            "is_data_manager": access.is_data_manager,
        },
    )


# Records a data manager may query from the visit page, and the fields offered there.
QUERYABLE = {
    "visit",
    "painassessment",
    "medicationuse",
    "patient",
    "lesion",
    "procedure",
    "radiationcourse",
    "adverseevent",
    "skeletalevent",
    "imagingassessment",
    "studyexit",
}


def _record_page(record) -> str | None:
    """The page where a user sees ``record`` (the read-only visit page for visit data, else the patient)."""
    visit = record if isinstance(record, Visit) else getattr(record, "visit", None)
    if isinstance(visit, Visit):
        return reverse("visit_detail", args=[visit.patient.study_id, visit.visit_code])
    patient = record if isinstance(record, Patient) else getattr(record, "patient", None)
    return None if patient is None else reverse("patient_detail", args=[patient.study_id])


@clinical_page
def query_new(request):
    """A data manager opens a query on one field of one record (from the field's 'Open query' link)."""
    if not access_for(request.user).is_data_manager:
        raise PermissionDenied("Only a data manager may open queries.")
    source = request.POST if request.method == "POST" else request.GET
    model_name, field_name = source.get("record", ""), source.get("field", "")
    model = model_for(model_name) if model_name in QUERYABLE else None
    try:
        object_id = int(source.get("id", ""))
    except ValueError:
        object_id = None
    if model is None or object_id is None:
        raise Http404("No such record.")
    record = get_object_or_404(scope_queryset(request.user, model.objects.all()), pk=object_id)
    form = MessageForm(request.POST or None)
    form.fields["message"].required = True
    form.fields["message"].label = "Question for the site"
    if request.method == "POST" and form.is_valid():
        try:
            query = data_queries.data_query_open(
                actor=request.user, record=record, field_name=field_name, message=form.cleaned_data["message"]
            )
        except DomainValidationError as exc:
            for field, msgs in exc.errors.items():
                form.add_error("message" if field == "message" else None, " ".join(msgs))
        else:
            messages.success(request, f"Query #{query.pk} opened on {record_field_label(model_name, field_name)}.")
            return redirect(_record_page(record) or reverse("dm_query_detail", args=[query.pk]))
    return render(
        request,
        "trials/data_management/query_new.html",
        {
            "form": form,
            "record_type": model_name,
            "object_id": object_id,
            "field_name": field_name,
            "label": record_field_label(model_name, field_name),
            "record_page": _record_page(record),
            "current_value": value_label(model, field_name, getattr(record, field_name, None)),
        },
    )


@clinical_page
def lock_list(request):
    """Locks, and for data managers: lock (scope chosen explicitly, then a confirmation step) and unlock with a reason."""
    is_data_manager = access_for(request.user).is_data_manager
    form = LockForm(request.POST or None, user=request.user)
    if request.method == "POST":
        if not is_data_manager:
            raise PermissionDenied("Only a data manager may lock or unlock data.")
        if request.POST.get("unlock"):
            lock = get_object_or_404(Lock, pk=request.POST["unlock"])
            if _apply(request, locking.lock_release, lock=lock, reason=request.POST.get("unlock_reason", "")):
                messages.success(request, f"Unlocked: {lock.target_label}.")
                return redirect("dm_locks")
        elif form.is_valid():
            if request.POST.get("confirm") != "yes":
                return render(
                    request,
                    "trials/data_management/lock_confirm.html",
                    {"form": form, "target": form.target(), "affected": form.affected_patients()},
                )
            if _lock_from_form(request, form):
                messages.success(request, f"Locked {form.target()}.")
                return redirect("dm_locks")
    locks = Lock.objects.select_related("patient", "site", "locked_by", "unlocked_by").order_by("unlocked_at", "-locked_at")
    locks = locking.visible_locks(request.user, locks)
    return render(
        request, "trials/data_management/locks.html", {"locks": locks[:200], "form": form, "is_data_manager": is_data_manager}
    )


def _lock_from_form(request, form: LockForm) -> bool:
    scope, reason = form.cleaned_data["scope"], form.cleaned_data["reason"]
    if scope == LockScope.PATIENT:
        return _apply(request, locking.patient_lock, patient=form.cleaned_data["patient_obj"], reason=reason)
    if scope == LockScope.SITE:
        return _apply(request, locking.site_lock, site=form.cleaned_data["site"], reason=reason)
    return _apply(request, locking.study_lock, reason=reason)


@clinical_page
def exports(request):
    """Download links; the files are served by the API (the session authenticates there too)."""
    return render(request, "trials/data_management/exports.html", {})


urlpatterns = [
    path("queries/", query_list, name="dm_queries"),
    path("queries/<int:pk>/", query_detail, name="dm_query_detail"),
    path("queries/new/", query_new, name="dm_query_new"),
    # Signing happens on the read-only visit page (issue 11); this address stays for old links and bookmarks.
    path("patients/<str:study_id>/visits/<slug:visit_code>/sign/", visit_detail, name="dm_visit_sign"),
    path("locks/", lock_list, name="dm_locks"),
    path("exports/", exports, name="dm_exports"),
    path("imports/", import_list, name="dm_imports"),
    path("imports/<int:pk>/", import_detail, name="dm_import_detail"),
]
