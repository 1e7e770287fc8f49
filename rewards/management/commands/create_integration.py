from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import IntegrityError
from django.utils.text import slugify

from rewards import services
from rewards.models import Integration


class Command(BaseCommand):
    help = "Create a forum integration allowed to post signed events, and print its new secret."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name", help="The integration's name (sent as X-Goldbook-Integration).")
        parser.add_argument("--rotate", action="store_true", help="Give an existing integration a new secret.")

    def handle(self, *args: object, **options: object) -> None:
        name = str(options["name"])
        if slugify(name) != name:
            raise CommandError("Use a slug: lowercase letters, digits, hyphens and underscores.")
        if options["rotate"]:
            if not Integration.objects.filter(name=name).exists():
                raise CommandError(f"No integration named {name!r}.")
            _, secret = services.integration_rotate(name=name)
        else:
            try:
                _, secret = services.integration_create(name=name)
            except IntegrityError:
                raise CommandError(f"Integration {name!r} exists; use --rotate for a new secret.") from None
        self.stdout.write(f"Integration: {name}")
        self.stdout.write(f"Secret: {secret}")
        self.stdout.write(
            'Sign each request with HMAC-SHA256 using this secret over "<timestamp>." + the raw body '
            f"and send the headers X-Goldbook-Integration: {name}, X-Goldbook-Timestamp: <Unix seconds> "
            "and X-Goldbook-Signature: sha256=<hex digest>. Timestamps more than 5 minutes off are refused."
        )
