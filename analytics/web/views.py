"""Investigator reports: request a run, follow its progress, read the summary, download artifacts."""

from __future__ import annotations

from django.contrib import messages
from django.http import FileResponse, Http404, JsonResponse
from django.shortcuts import redirect, render

from analytics.services import ReportQuotaExceeded, report_run_request
from analytics.web import selectors
from analytics.web.forms import ReportRequestForm
from trials.errors import DomainValidationError
from trials.guards import study_page


@study_page
def reports(request):
    form = ReportRequestForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        parameters = {
            "strata": form.cleaned_data["strata"],
            "include_hypercalcaemia": form.cleaned_data["include_hypercalcaemia"],
        }
        try:
            run, reused = report_run_request(actor=request.user, parameters=parameters, force=form.cleaned_data["force"])
        except DomainValidationError as exc:
            form.add_service_errors(exc)
        except ReportQuotaExceeded as exc:
            form.add_error(None, str(exc))
        else:
            if reused:
                messages.info(request, f"The data have not changed since run {run.pk} with these parameters; showing it.")
            return redirect("report_detail", run_id=run.pk)
    data_version = selectors.current_data_version()
    return render(
        request,
        "analytics/reports.html",
        {"form": form, "runs": selectors.past_runs(data_version=data_version)},
    )


@study_page
def report_detail(request, run_id: int):
    run, result = selectors.run_with_summary(run_id)  # the summary's part of result.json only
    return render(
        request,
        "analytics/report_detail.html",
        {
            "run": run,
            "status": selectors.run_status(run),
            "summary": selectors.report_summary(result) if run.status == "succeeded" else {},
            "downloads": selectors.downloads(run),
            "plots": selectors.plots(run),
        },
    )


@study_page
def report_status(request, run_id: int):
    """Small JSON polled by the progress bar."""
    return JsonResponse(selectors.run_status(selectors.run_get(run_id)))


@study_page
def report_artifact(request, run_id: int, name: str):
    run = selectors.run_get(run_id)
    try:
        path = run.artifact_path(name)
    except FileNotFoundError as exc:
        raise Http404(str(exc)) from exc
    if not path.is_file():
        raise Http404(f"Artifact {name} of run {run_id} is missing on disk.")
    return FileResponse(path.open("rb"), as_attachment=not name.endswith(".png"), filename=name)
