"""Demo data: the forum-style coin packs of seed 000 (22, 52, 200, 500 coins). Idempotent.

The three seed packages (Starter, Popular, Premium) come from migration 0002 on every site.
"""

from decimal import Decimal

from django.conf import settings
from django.core.management.base import OutputWrapper
from django.utils import timezone

from .models import CreditPackage, ExchangeRate

# (coins, bonus coins): "bonus coins for larger purchases"; 1 coin costs 1 USD at the default rate.
COIN_PACKS = [(22, 0), (52, 0), (200, 10), (500, 40)]
# Demo rates per 1 USD, so the display currencies show an equivalent; a real site's staff set theirs.
DEMO_RATES = {"CNY": Decimal(settings.PAYMENTS_DEFAULT_CNY_PER_USD), "EUR": Decimal("0.92")}


def seed(*, stdout: OutputWrapper) -> None:
    created = 0
    for order, (coins, bonus) in enumerate(COIN_PACKS, start=100):
        _, made = CreditPackage.objects.get_or_create(
            name=f"{coins} Gold Coins",
            style=CreditPackage.Style.COIN_PACK,
            defaults={
                "usd_cents": coins * 100,
                "base_credits": coins * 100,
                "bonus_credits": bonus * 100,
                "sort_order": order,
            },
        )
        created += int(made)
    stdout.write(f"payments: {len(COIN_PACKS)} coin packs ({created} created)")
    _seed_rates(stdout=stdout)


def _seed_rates(*, stdout: OutputWrapper) -> None:
    """A dated rate per display currency that has none yet (staff's own rates are left alone)."""
    made = []
    for currency, rate in DEMO_RATES.items():
        if not ExchangeRate.objects.filter(currency=currency).exists():
            ExchangeRate.objects.create(currency=currency, rate=rate, effective_date=timezone.localdate())
            made.append(currency)
    stdout.write(f"payments: demo exchange rates ({', '.join(made) or 'already set'})")
