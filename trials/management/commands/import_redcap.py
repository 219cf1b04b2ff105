"""``manage.py import_redcap --mapping FILE --records FILE [--dry-run] [--date-format YMD|MDY|DMY] [--user NAME]``.

Prints the import report (one line per input row: imported, updated, unchanged, refused with row, record, field and
rule, ignored or no data; blank rows counted). Exit status 1 (CommandError) when the mapping or the file is wrong or
any row is refused; then nothing was written.
"""

from __future__ import annotations

from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from trials.interop.redcap_import import DATE_FORMATS, MappingError, mapping_load, redcap_import


class Command(BaseCommand):
    help = "Import a REDCap records CSV through a JSON mapping file; all or nothing, --dry-run validates only."

    def add_arguments(self, parser):
        parser.add_argument("--mapping", required=True, help="JSON mapping file (REDCap field → registry field, value maps).")
        parser.add_argument("--records", required=True, help="REDCap records export (CSV, raw values).")
        parser.add_argument("--dry-run", action="store_true", help="Validate every row and report; write nothing.")
        parser.add_argument("--user", default=None, help="Import as this user (default: the mapping's 'imported_by').")
        parser.add_argument(
            "--date-format",
            choices=sorted(DATE_FORMATS),
            default=None,
            help="Dates in the file: YMD = YYYY-MM-DD (REDCap raw export, the default), MDY = M/D/YYYY "
            "(US Excel), DMY = D/M/YYYY.",
        )

    def handle(
        self, *args, mapping: str, records: str, dry_run: bool, user: str | None, date_format: str | None = None, **options
    ):
        actor = None
        if user:
            actor = get_user_model().objects.filter(username=user).first()
            if actor is None:
                raise CommandError(f"No user {user!r}.")
        if not Path(records).is_file():
            raise CommandError(f"--records: no file {records} (check the path); nothing was imported.")
        try:
            report = redcap_import(
                mapping=mapping_load(mapping), records=Path(records), actor=actor, dry_run=dry_run, date_format=date_format
            )
        except (MappingError, ValueError, OSError) as exc:
            raise CommandError(str(exc)) from exc
        for outcome in report.rows:
            for error in outcome.errors:
                self.stderr.write(str(error))
            if not outcome.errors:
                self.stdout.write(str(outcome))
        if report.blank_rows:
            self.stdout.write(f"Blank rows skipped: {', '.join(map(str, report.blank_rows))}")
        if report.errors:
            raise CommandError(f"{report.summary()}. {len(report.errors)} problem(s); nothing was written.")
        if dry_run:
            self.stdout.write(
                self.style.SUCCESS(
                    f"Dry run: {report.records} record(s) valid ({report.visits_recorded} visit(s)); {report.summary()}; "
                    "nothing was written."
                )
            )
            return
        self.stdout.write(
            self.style.SUCCESS(
                f"Imported {len(report.created)} patient(s) and {report.visits_recorded} visit(s) ({report.summary()}): "
                + ", ".join(f"{rid}→{sid}" for rid, sid in report.created)
            )
        )
