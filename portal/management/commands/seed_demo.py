from django.core.management.base import BaseCommand
from django.db import transaction

from core.registry import demo_seeds


class Command(BaseCommand):
    help = (
        "Load demo data for the embedded default. Each app declares its seed in its AppConfig "
        "(core.registry.register_demo_data); running the command again changes nothing."
    )

    def handle(self, *args: object, **options: object) -> None:
        for _app_label, seed in demo_seeds():
            with transaction.atomic():
                seed(stdout=self.stdout)
        self.stdout.write(self.style.SUCCESS("Demo data is in place."))
