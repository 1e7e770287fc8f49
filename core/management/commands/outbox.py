from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.db.models import Count, Min

from core import outbox
from core.models import OutboxEvent


class Command(BaseCommand):
    help = (
        "What the outbox holds: undelivered events by name, the oldest, and the failing ones with "
        "their last error. --deliver runs a sweep now (what beat does every 30 s), e.g. after an "
        "outage, without waiting for beat."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--deliver", action="store_true", help="deliver every due event now")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["deliver"]:
            delivered = 0
            while (n := outbox.sweep()) > 0:
                delivered += n
            self.stdout.write(f"Delivered {delivered} events.")
        pending = OutboxEvent.objects.filter(delivered_at__isnull=True)
        rows = pending.values("name").annotate(n=Count("id"), oldest=Min("created_at")).order_by("name")
        if not rows:
            self.stdout.write(self.style.SUCCESS("Outbox: nothing undelivered."))
            return
        for row in rows:
            self.stdout.write(f"{row['name']}: {row['n']} undelivered, oldest {row['oldest']:%Y-%m-%d %H:%M:%S}")
        for event in pending.exclude(last_error="").order_by("id")[:20]:
            self.stdout.write(
                self.style.WARNING(f"#{event.pk} {event.name} attempt {event.attempts}: {event.last_error}")
            )
