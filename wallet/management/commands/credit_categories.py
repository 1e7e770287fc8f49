from django.core.management.base import BaseCommand, CommandParser

from wallet import services
from wallet.selectors import default_currency


class Command(BaseCommand):
    help = (
        "Split balances that have no credit categories yet into paid (what purchases account for) and "
        "promotional (the rest, by source). Migration 0006 runs it once; --dry-run reports the split "
        "and writes nothing (it reads only the ledger, so it can run before `migrate` on the new code)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--dry-run", action="store_true", help="report the split, write nothing")

    def handle(self, *args: object, **options: object) -> None:
        dry_run = bool(options["dry_run"])
        found = services.credits_categorise_existing(dry_run=dry_run)
        currency = default_currency()
        verb = "Would categorise" if dry_run else "Categorised"
        self.stdout.write(f"{verb} {found.accounts} account(s):")
        for category, amount in found.totals.items():
            self.stdout.write(f"  {category:<8} {currency.to_decimal(amount):>16,} {currency.code}")
        self.stdout.write(self.style.SUCCESS("Dry run: nothing written." if dry_run else "Done."))
