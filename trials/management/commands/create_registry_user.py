"""Create a user with a role (and site) from the command line: bootstrap production without the demo seeder.

    python manage.py create_registry_user dm1 --role data_manager --reason "First data manager" --password-file /run/secrets/dm1
    python manage.py create_registry_user coord_atl --role coordinator --site ATL --first-name Ana --last-name Ruiz \\
        --reason "Delegation log 28 Nov"          # asks for the password twice

Same rules and audit as the users page (``trials.services.users.user_create``);
the audit trail names the operator as "command line".
"""

from __future__ import annotations

import getpass

from django.core.management.base import BaseCommand, CommandError

from trials.errors import DomainValidationError
from trials.models import Role, Site
from trials.services.users import role_label, user_create


class Command(BaseCommand):
    help = "Create a registry user with one role (site roles need --site); every change needs --reason."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--role", required=True, choices=Role.values)
        parser.add_argument("--site", help="Site code (for coordinator and site_investigator), e.g. ATL.")
        parser.add_argument("--reason", required=True, help="Why the account is created (kept in the audit trail).")
        parser.add_argument("--first-name", default="")
        parser.add_argument("--last-name", default="")
        parser.add_argument("--email", default="")
        parser.add_argument("--password-file", help="Read the initial password from this file (first line); else prompt.")

    def handle(self, *args, **options):
        site = None
        if options["site"]:
            site = Site.objects.filter(code=options["site"].upper()).first()
            if site is None:
                codes = ", ".join(Site.objects.values_list("code", flat=True)) or "none yet"
                raise CommandError(f"No site {options['site']} (sites: {codes}).")
        password = self._password(options["password_file"])
        try:
            user = user_create(
                actor=None,
                username=options["username"],
                password=password,
                role=options["role"],
                site=site,
                reason=options["reason"],
                first_name=options["first_name"],
                last_name=options["last_name"],
                email=options["email"],
            )
        except DomainValidationError as exc:
            raise CommandError("; ".join(f"{field}: {' '.join(msgs)}" for field, msgs in exc.errors.items())) from exc
        self.stdout.write(self.style.SUCCESS(f"Created {user.get_username()} as {role_label(options['role'], site)}."))

    @staticmethod
    def _password(path: str | None) -> str:
        if path:
            with open(path, encoding="utf-8") as handle:
                return handle.readline().rstrip("\n")
        first = getpass.getpass("Initial password: ")
        if first != getpass.getpass("Again: "):
            raise CommandError("The two passwords differ.")
        return first
