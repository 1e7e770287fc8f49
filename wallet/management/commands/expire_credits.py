from django.core.management.base import BaseCommand

from wallet import services


class Command(BaseCommand):
    help = (
        "Announce promotional credits expiring soon and expire the ones past their date (the Celery "
        "beat task does this every hour). Safe to run again."
    )

    def handle(self, *args: object, **options: object) -> None:
        announced = services.credits_announce_expiring()
        expired = services.credits_expire()
        self.stdout.write(self.style.SUCCESS(f"Announced {announced} lot(s) expiring soon; expired {expired} lot(s)."))
