"""Web import of REDCap records for data managers (issue 13): upload records + mapping, read the dry-run report,
confirm. Every run and its reports are kept (``ImportRun``, with history)."""

from __future__ import annotations

import json

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.shortcuts import get_object_or_404, redirect, render

from trials.access import access_for
from trials.errors import DomainValidationError
from trials.guards import clinical_page
from trials.interop.redcap_import import DATE_FORMATS, MappingError, import_run_check, import_run_confirm
from trials.models import ImportRun, ImportStatus

MAX_UPLOAD_BYTES = 20 * 1024 * 1024


class ImportForm(forms.Form):
    records = forms.FileField(
        label="REDCap records (CSV, raw values)", help_text="REDCap: Data Exports → CSV / Microsoft Excel (raw data)."
    )
    mapping = forms.FileField(
        label="Mapping (JSON)", help_text="Which REDCap field fills which registry field; see the data-management guide."
    )
    date_format = forms.ChoiceField(
        label="Dates in the file",
        initial="YMD",
        choices=[(k, f"{shown} ({k})") for k, (_, shown) in DATE_FORMATS.items()],
        help_text="REDCap's raw export writes YYYY-MM-DD; a file saved by Excel may hold M/D/YYYY or D/M/YYYY.",
    )

    def _text(self, name: str) -> str:
        upload = self.cleaned_data[name]
        if upload.size > MAX_UPLOAD_BYTES:
            raise forms.ValidationError({name: f"The file is larger than {MAX_UPLOAD_BYTES // (1024 * 1024)} MB."})
        try:
            return upload.read().decode("utf-8-sig")
        except UnicodeDecodeError:
            raise forms.ValidationError({name: "The file is not UTF-8 text; export it from REDCap as CSV (UTF-8)."}) from None

    def clean(self):
        data = super().clean()
        if self.errors:
            return data
        data["records_text"] = self._text("records")
        try:
            data["mapping_raw"] = json.loads(self._text("mapping"))
        except json.JSONDecodeError as exc:
            raise forms.ValidationError({"mapping": f"The mapping is not valid JSON: {exc}."}) from None
        return data


def _require_data_manager(request) -> None:
    if not access_for(request.user).is_data_manager:
        raise PermissionDenied("Only a data manager may import data.")


@clinical_page
def import_list(request):
    _require_data_manager(request)
    form = ImportForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        try:
            run = import_run_check(
                actor=request.user,
                records_name=form.cleaned_data["records"].name,
                records_text=form.cleaned_data["records_text"],
                mapping_name=form.cleaned_data["mapping"].name,
                mapping_raw=form.cleaned_data["mapping_raw"],
                date_format=form.cleaned_data["date_format"],
            )
        except (MappingError, ValueError, OSError) as exc:
            form.add_error(None, str(exc))
        else:
            return redirect("dm_import_detail", pk=run.pk)
    runs = ImportRun.objects.select_related("created_by", "imported_by")[:100]
    return render(request, "trials/data_management/imports.html", {"form": form, "runs": runs})


@clinical_page
def import_detail(request, pk: int):
    _require_data_manager(request)
    run = get_object_or_404(ImportRun, pk=pk)
    if request.method == "POST" and request.POST.get("confirm") == "yes":
        try:
            with transaction.atomic():
                run = import_run_confirm(actor=request.user, run=run)
        except DomainValidationError as exc:
            messages.error(request, str(exc))
        else:
            if run.status == ImportStatus.IMPORTED:
                messages.success(request, f"Imported: {run.report['counts']}.")
            else:
                messages.error(request, "The import was refused; nothing was written. See the report below.")
        return redirect("dm_import_detail", pk=run.pk)
    report = run.report or run.dry_run_report
    return render(
        request,
        "trials/data_management/import_detail.html",
        {
            "run": run,
            "report": report,
            "checked": run.status == ImportStatus.CHECKED,
            "history": run.history.select_related("history_user").order_by("history_date"),
        },
    )
