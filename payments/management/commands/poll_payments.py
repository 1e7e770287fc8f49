from django.core.management.base import BaseCommand

from payments import services


class Command(BaseCommand):
    help = (
        "One poll pass: ask CoinPayments about open payments (get_tx_info_multi, 25 ids per call), "
        "re-check pending E9th deposits and expire payments past their deadline."
    )

    def handle(self, *args: object, **options: object) -> None:
        report = services.poll_payments()
        self.stdout.write(
            f"Checked {report.checked} CoinPayments payment(s) in {report.provider_calls} call(s), "
            f"{report.updated} updated; {report.chain_checked} chain deposit(s) re-checked; "
            f"{report.expired} expired."
        )
        for error in report.errors:
            self.stderr.write(f"  provider error: {error}")
