"""``manage.py pro_instrument_load``: install instruments and site-loaded translations (docs/pro.md)."""

from __future__ import annotations

import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from pro import instruments
from pro.models import Instrument


class Command(BaseCommand):
    help = (
        "Install an instrument definition (JSON, pro/instruments/schema.json), re-install the shipped ones (--shipped), "
        "add a site's validated translation to the active version of an instrument (--translation FILE --instrument "
        "CODE), or write a translation template to fill in (--template LANG --instrument CODE)."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", nargs="?", help="Instrument definition JSON, or the translation JSON with --translation.")
        parser.add_argument("--shipped", action="store_true", help="(Re-)install the instruments shipped in pro/instruments.")
        parser.add_argument("--translation", action="store_true", help="FILE is a translation of --instrument.")
        parser.add_argument("--template", metavar="LANG", help="Print a translation template for LANG.")
        parser.add_argument("--instrument", help="Code of the instrument (active version).")

    def handle(self, *args, **opts):
        try:
            if opts["shipped"]:
                with transaction.atomic():
                    rows = instruments.install_shipped(Instrument)
                for row in rows:
                    self.stdout.write(f"{row}: languages {row.languages}")
                return
            if opts["template"]:
                self.stdout.write(
                    json.dumps(
                        instruments.translation_template(self._active(opts).definition, opts["template"]),
                        indent=2,
                        ensure_ascii=False,
                    )
                )
                return
            if not opts["file"]:
                raise CommandError("give a FILE, --shipped or --template")
            data = json.loads(Path(opts["file"]).read_text(encoding="utf-8"))
            with transaction.atomic():
                if opts["translation"]:
                    row = self._active(opts)
                    definition = instruments.load_translation(row.definition, data)
                    row = instruments.install(Instrument, definition, shipped=row.shipped)
                else:
                    row = instruments.install(Instrument, data)
        except (instruments.InstrumentError, json.JSONDecodeError, OSError) as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(self.style.SUCCESS(f"Installed {row}: languages {row.languages}"))

    @staticmethod
    def _active(opts) -> Instrument:
        if not opts["instrument"]:
            raise CommandError("--instrument CODE is required")
        row = Instrument.objects.current().filter(code=opts["instrument"]).first()
        if row is None:
            raise CommandError(f"no active instrument '{opts['instrument']}'")
        return row
