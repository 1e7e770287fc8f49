import importlib

from django.apps import apps
from django.core.management.base import BaseCommand
from django.db import transaction


class Command(BaseCommand):
    help = (
        "Load demo data for the embedded default. Each app contributes through its own "
        "`demo.seed()`; running the command again changes nothing."
    )

    def handle(self, *args: object, **options: object) -> None:
        for app_config in apps.get_app_configs():
            module_name = f"{app_config.name}.demo"
            try:
                module = importlib.import_module(module_name)
            except ModuleNotFoundError as exc:
                if exc.name == module_name:
                    continue
                raise
            with transaction.atomic():
                module.seed(stdout=self.stdout)
        self.stdout.write(self.style.SUCCESS("Demo data is in place."))
