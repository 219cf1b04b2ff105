"""``manage.py export_odm --out FILE``: the registry as one CDISC ODM 1.3.2 document, checked before it is written."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from trials.access import SYSTEM
from trials.interop.odm import odm_build, odm_bytes, odm_validate


class Command(BaseCommand):
    help = "Export the registry as CDISC ODM 1.3.2 (validated against the official XSD and its OID references)."

    def add_arguments(self, parser):
        parser.add_argument("--out", required=True, help="File to write (e.g. registry-odm.xml).")

    def handle(self, *args, out: str, **options):
        tree = odm_build(SYSTEM)
        problems = odm_validate(tree)
        if problems:
            raise CommandError("The ODM document is not valid; nothing written:\n" + "\n".join(map(str, problems[:20])))
        path = Path(out)
        path.write_bytes(odm_bytes(tree))
        subjects = len(tree.getroot().findall(".//{http://www.cdisc.org/ns/odm/v1.3}SubjectData"))
        self.stdout.write(self.style.SUCCESS(f"Wrote {path} ({subjects} subjects; valid ODM 1.3.2, every OID resolves)."))
