"""Deactivate a user from the command line: no more log-ins, sessions ended, API tokens revoked (audited).

python manage.py deactivate_registry_user coord_atl --reason "Left the site on 30 Nov"
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from trials.errors import DomainValidationError
from trials.services.users import user_deactivate


class Command(BaseCommand):
    help = "Deactivate a registry user (sessions ended, API tokens revoked); --reason is kept in the audit trail."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--reason", required=True)

    def handle(self, *args, **options):
        user = get_user_model().objects.filter(username=options["username"]).first()
        if user is None:
            raise CommandError(f"No user {options['username']}.")
        try:
            counts = user_deactivate(actor=None, user=user, reason=options["reason"])
        except DomainValidationError as exc:
            raise CommandError("; ".join(f"{field}: {' '.join(msgs)}" for field, msgs in exc.errors.items())) from exc
        self.stdout.write(
            self.style.SUCCESS(
                f"Deactivated {user.get_username()}: {counts['sessions']} session(s) ended, {counts['tokens']} API "
                f"token(s) revoked."
            )
        )
