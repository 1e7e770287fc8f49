from django.core.management.base import BaseCommand, CommandError, CommandParser

from portal.economy import rollups


class Command(BaseCommand):
    help = (
        "Roll up the ledger's closed hours for the economy page (what the beat task does every 10 "
        "minutes; the first run rolls up the whole history), then, with --reconcile, compare every "
        "rollup with the ledger and exit non-zero on a difference."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--reconcile", action="store_true", help="also check the rollups against the ledger")

    def handle(self, *args: object, **options: object) -> None:
        done = rollups.refresh()
        self.stdout.write(f"Rolled up {done.start} to {done.until}: {done.rows} rows.")
        if not options["reconcile"]:
            return
        differences = rollups.reconcile()
        for line in differences:
            self.stdout.write(f"  - {line}")
        if differences:
            raise CommandError(f"The rollups differ from the ledger: {len(differences)} differences.")
        self.stdout.write(self.style.SUCCESS("The rollups reconcile with the ledger."))
