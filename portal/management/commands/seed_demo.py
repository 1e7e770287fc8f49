from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from core.registry import demo_seeds


class Command(BaseCommand):
    help = (
        "Load demo data for the embedded default. Each app declares its seed in its AppConfig "
        "(core.registry.register_demo_data); running the command again changes nothing. Refuses to "
        "run with DEBUG off."
    )

    def handle(self, *args: object, **options: object) -> None:
        if not settings.DEBUG:
            # Its accounts, the superuser among them, have PINs published in the README.
            raise CommandError(
                "seed_demo creates accounts whose PINs are published (a superuser among them), so it "
                "runs only with DEBUG on. It is for development machines, never a live site."
            )
        for _app_label, seed in demo_seeds():
            with transaction.atomic():
                seed(stdout=self.stdout)
        self.stdout.write(self.style.SUCCESS("Demo data is in place."))
