"""Web import runs, kept and audited: a checked dry run (``import_run_check``) and its confirmation (``import_run_confirm``)."""

from trials.errors import DomainValidationError
from trials.interop.redcap_import.apply import redcap_import
from trials.interop.redcap_import.mapping import mapping_load
from trials.models.base import stamp_history


def import_run_check(
    *, actor, records_name: str, records_text: str, mapping_name: str, mapping_raw: dict, date_format: str = "YMD"
):
    """Dry-run an uploaded file and keep the run with its report (``ImportRun``). Raises ``MappingError`` (bad
    mapping or file header) before anything is kept; row problems are in the kept report."""
    import hashlib

    from trials.models import ImportRun, ImportStatus

    mapping = mapping_load(mapping_raw)
    report = redcap_import(
        mapping=mapping, records=records_text, actor=actor, dry_run=True, date_format=date_format, source_name=records_name
    )
    refused = bool(report.errors)
    run = ImportRun(
        created_by=actor,
        records_name=records_name,
        records_text="" if refused else records_text,
        records_sha256=hashlib.sha256(records_text.encode()).hexdigest(),
        mapping_name=mapping_name,
        mapping=mapping_raw,
        date_format=date_format,
        dry_run_report=report.as_dict(),
        status=ImportStatus.REFUSED if refused else ImportStatus.CHECKED,
    )
    stamp_history(run, actor, f"Dry run: {report.summary()}"[:100])
    run.save()
    return run


def import_run_confirm(*, actor, run):
    """Run a checked import for real (all or nothing) and keep its report; the records text is then cleared."""
    from django.utils import timezone

    from trials.models import ImportRun, ImportStatus

    run = ImportRun.objects.select_for_update().get(pk=run.pk)
    if run.status != ImportStatus.CHECKED:
        raise DomainValidationError(
            {
                "status": f"This import is {run.get_status_display().split(':')[0].lower()}; only a "
                "checked import waiting for confirmation can be run."
            }
        )
    report = redcap_import(
        mapping=mapping_load(run.mapping),
        records=run.records_text,
        actor=actor,
        date_format=run.date_format,
        source_name=run.records_name,
    )
    run.report, run.records_text = report.as_dict(), ""
    run.status = ImportStatus.IMPORTED if report.committed else ImportStatus.REFUSED
    run.imported_at, run.imported_by = timezone.now(), actor
    stamp_history(run, actor, f"{'Imported' if report.committed else 'Refused'}: {report.summary()}"[:100])
    run.save()
    return run
