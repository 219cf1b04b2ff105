"""``manage.py import_redcap --mapping FILE --records FILE [--dry-run]``: REDCap records into the registry.

Exit status 1 (CommandError) when any row fails; every failing row and field is listed.
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from trials.interop.redcap_import import MappingError, mapping_load, redcap_import


class Command(BaseCommand):
    help = "Import a REDCap records CSV through a JSON mapping file; all or nothing, --dry-run validates only."

    def add_arguments(self, parser):
        parser.add_argument("--mapping", required=True, help="JSON mapping file (REDCap field → registry field, value maps).")
        parser.add_argument("--records", required=True, help="REDCap records export (CSV, raw values).")
        parser.add_argument("--dry-run", action="store_true", help="Validate every row and report; write nothing.")
        parser.add_argument("--user", default=None, help="Import as this user (default: the mapping's 'imported_by').")

    def handle(self, *args, mapping: str, records: str, dry_run: bool, user: str | None, **options):
        actor = None
        if user:
            actor = get_user_model().objects.filter(username=user).first()
            if actor is None:
                raise CommandError(f"No user {user!r}.")
        try:
            report = redcap_import(mapping=mapping_load(mapping), records=records, actor=actor, dry_run=dry_run)
        except (MappingError, ValueError, OSError) as exc:
            raise CommandError(str(exc)) from exc
        for error in report.errors:
            self.stderr.write(str(error))
        if report.errors:
            raise CommandError(f"{len(report.errors)} problem(s) in {report.records} record(s); nothing was written.")
        if dry_run:
            self.stdout.write(self.style.SUCCESS(
                f"Dry run: {report.records} record(s) valid ({report.visits_recorded} visit(s)); nothing was written."))
            return
        self.stdout.write(self.style.SUCCESS(
            f"Imported {len(report.created)} patient(s) and {report.visits_recorded} visit(s): "
            + ", ".join(f"{rid}→{sid}" for rid, sid in report.created)))
