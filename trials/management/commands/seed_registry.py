"""``manage.py seed_registry --sites N --patients M --seed S``: a deterministic synthetic registry."""

from __future__ import annotations

import datetime as dt
import time

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from tqdm import tqdm

from trials.models import Patient
from trials.seeding.accounts import demo_accounts_ensure, sites_ensure, system_user
from trials.seeding.writer import seed_patients


class Command(BaseCommand):
    help = (
        "Create sites, demo accounts and a deterministic synthetic registry. The same --seed and "
        "--anchor-date give identical data. Safe to re-run: patients are only added when the "
        "registry has fewer than requested (use --add to append more)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--sites", type=int, default=3, help="Number of sites (default 3).")
        parser.add_argument("--patients", type=int, default=150, help="Number of patients (default 150).")
        parser.add_argument("--seed", type=int, default=1, help="Random seed (default 1).")
        parser.add_argument("--password", default="demo", help="Password of every demo account (default 'demo').")
        parser.add_argument(
            "--anchor-date",
            type=dt.date.fromisoformat,
            default=None,
            help="The 'today' the synthetic history ends on (YYYY-MM-DD; default today).",
        )
        parser.add_argument("--add", action="store_true", help="Add --patients more even if the registry has data.")
        parser.add_argument("--chunk-size", type=int, default=1000, help="Patients written per transaction.")
        parser.add_argument("--no-progress", action="store_true", help="Hide the progress bar.")

    def handle(self, *args, **opts):
        if opts["sites"] < 1 or opts["patients"] < 0:
            raise CommandError("--sites must be ≥ 1 and --patients ≥ 0")
        anchor = opts["anchor_date"] or timezone.localdate()
        sites = sites_ensure(opts["sites"])
        accounts = demo_accounts_ensure(sites, opts["password"])
        existing = Patient.objects.count()
        todo = opts["patients"] if opts["add"] else max(0, opts["patients"] - existing)
        if todo == 0:
            self.stdout.write(f"Registry already has {existing} patients; nothing to add (use --add for more).")
        else:
            started = time.perf_counter()
            with tqdm(total=todo, unit="patients", disable=opts["no_progress"], desc="Seeding") as bar:
                seed_patients(
                    sites=sites,
                    patients=todo,
                    seed=opts["seed"] + existing,
                    anchor=anchor,
                    user=system_user(),
                    chunk_size=opts["chunk_size"],
                    progress=bar.update,
                )
            elapsed = time.perf_counter() - started
            self.stdout.write(
                self.style.SUCCESS(
                    f"Seeded {todo} patients at {len(sites)} sites in {elapsed:.1f} s (seed {opts['seed']}, anchor {anchor})."
                )
            )
        self.stdout.write(f"\nDemo logins (password: {opts['password']})")
        for username, role in accounts:
            self.stdout.write(f"  {username:<28} {role}")
