"""Create a reseller and print its API token, the only time it can be seen."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.core.validators import validate_email

from ticketing.services.resellers import reseller_create


class Command(BaseCommand):
    help = "Create a reseller and print its API token once (only its hash is stored)."

    def add_arguments(self, parser):
        parser.add_argument("name", help="The reseller's name, as shown in audits and orders.")
        parser.add_argument("contact_email", help="Where to reach the reseller.")
        parser.add_argument(
            "--token-only",
            action="store_true",
            help="Print the token alone (for scripts).",
        )

    def handle(self, *args, name: str, contact_email: str, token_only: bool, **options):
        if not name.strip() or len(name) > 200:
            raise CommandError("The name must be 1 to 200 characters.")
        try:
            validate_email(contact_email)
        except ValidationError as exc:
            raise CommandError(f"Not a valid e-mail address: {contact_email!r}") from exc
        reseller, token = reseller_create(name=name, contact_email=contact_email)
        if token_only:
            self.stdout.write(token)
            return
        self.stdout.write(f"Reseller #{reseller.pk} “{reseller.name}” created.")
        self.stdout.write("API token (shown once, store it now):")
        self.stdout.write(token)
