from django.core.management.base import BaseCommand

from wallet import services


class Command(BaseCommand):
    help = "Release pending holds past their expiry (the Celery beat task does this every minute)."

    def handle(self, *args: object, **options: object) -> None:
        expired = services.holds_expire()
        self.stdout.write(self.style.SUCCESS(f"Expired {expired} hold(s)."))
