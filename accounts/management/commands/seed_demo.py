from django.core.management.base import BaseCommand
from django.db import transaction

from accounts.app_hooks import app_modules


class Command(BaseCommand):
    help = (
        "Load demo data for the embedded default. Each app contributes through its own "
        "`demo.seed()`; running the command again changes nothing."
    )

    def handle(self, *args: object, **options: object) -> None:
        for _config, module in app_modules("demo"):
            with transaction.atomic():
                module.seed(stdout=self.stdout)
        self.stdout.write(self.style.SUCCESS("Demo data is in place."))
