"""Demo data: the forum-style coin packs of seed 000 (22, 52, 200, 500 coins). Idempotent.

The three seed packages (Starter, Popular, Premium) come from migration 0002 on every site.
"""

from django.core.management.base import OutputWrapper

from .models import CreditPackage

# (coins, bonus coins): "bonus coins for larger purchases"; 1 coin costs 1 USD at the default rate.
COIN_PACKS = [(22, 0), (52, 0), (200, 10), (500, 40)]


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
