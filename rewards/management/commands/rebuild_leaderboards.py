from django.core.management.base import BaseCommand

from rewards import services


class Command(BaseCommand):
    help = "Recompute earned totals from the ledger; replace the SQL aggregates and the Redis sorted sets."

    def handle(self, *args: object, **options: object) -> None:
        result = services.leaderboards_rebuild(progress=self.stdout.write)
        self.stdout.write(
            self.style.SUCCESS(
                f"Leaderboards rebuilt: {result.rows} totals for {result.users} members, "
                f"{result.redis_keys} Redis keys."
            )
        )
