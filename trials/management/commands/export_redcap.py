"""``manage.py export_redcap --out DIR``: the REDCap data dictionary and records (plus events, instrument designations
and the repeating-instruments declaration)."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand

from trials.access import SYSTEM
from trials.interop.redcap import (
    dictionary_csv,
    events_csv,
    instrument_designation_csv,
    records_csv,
    repeating_instruments_csv,
)

FILES = {
    "dictionary.csv": dictionary_csv,
    "records.csv": lambda: records_csv(SYSTEM),  # the command line exports every site
    "events.csv": events_csv,
    "instrument_designation.csv": instrument_designation_csv,
    "repeating_instruments.csv": repeating_instruments_csv,
}


class Command(BaseCommand):
    help = (
        "Write the registry as a REDCap longitudinal project: dictionary.csv, records.csv, events.csv, "
        "instrument_designation.csv, repeating_instruments.csv."
    )

    def add_arguments(self, parser):
        parser.add_argument("--out", required=True, help="Directory to write the CSV files into (created if needed).")

    def handle(self, *args, out: str, **options):
        directory = Path(out)
        directory.mkdir(parents=True, exist_ok=True)
        for name, build in FILES.items():
            (directory / name).write_text(build(), encoding="utf-8")
            self.stdout.write(f"Wrote {directory / name}")
