"""Data queries (issue 6): the list, one query with its answer/close/reopen actions, and opening a query on one
field of one record (data managers). Thin views: rows from ``scope_queryset``, decisions from
``trials.services.data_queries``; its errors are shown on the page.
"""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse

from trials.access import access_for, scope_queryset
from trials.errors import DomainValidationError
from trials.guards import clinical_page
from trials.models import Patient, QueryStatus, Visit
from trials.services import data_queries
from trials.web.forms.data_management import MessageForm
from trials.web.forms.errors import apply_showing_errors
from trials.web.labels import model_for, record_field_label, value_label
from trials.web.selectors.data_queries import scoped_queries


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
        if form.is_valid() and apply_showing_errors(request, action, query=query, message=form.cleaned_data["message"]):
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
