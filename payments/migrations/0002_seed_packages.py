"""The seed's three packages (active), the default bulk bonus tier, and the CNY display rate.

Starter $25 → 25 + 15 = 40, Popular $50 → 50 + 25 = 75 ("MOST POPULAR"),
Premium $100 → 100 + 100 = 200 ("BEST VALUE"). Amounts in cents and credit minor units.
"""

from decimal import Decimal

from django.db import migrations

PACKAGES = [
    ("Starter Pack", 2500, 2500, 1500, "", 10),
    ("Popular Pack", 5000, 5000, 2500, "MOST POPULAR", 20),
    ("Premium Pack", 10000, 10000, 10000, "BEST VALUE", 30),
]


def forwards(apps, schema_editor):
    CreditPackage = apps.get_model("payments", "CreditPackage")
    BonusTier = apps.get_model("payments", "BonusTier")
    PricingConfig = apps.get_model("payments", "PricingConfig")
    for name, usd, base, bonus, badge, order in PACKAGES:
        CreditPackage.objects.get_or_create(
            name=name,
            defaults={
                "usd_cents": usd,
                "base_credits": base,
                "bonus_credits": bonus,
                "badge": badge,
                "sort_order": order,
                "style": "card",
                "active": True,
            },
        )
    BonusTier.objects.get_or_create(min_usd_cents=20000, defaults={"percent": Decimal("10")})
    PricingConfig.objects.get_or_create(pk=1, defaults={"cny_per_usd": Decimal("7.2000")})


def backwards(apps, schema_editor):
    # Packages may be referenced by payments by now; leave them.
    pass


class Migration(migrations.Migration):
    dependencies = [("payments", "0001_initial")]
    operations = [migrations.RunPython(forwards, backwards)]
