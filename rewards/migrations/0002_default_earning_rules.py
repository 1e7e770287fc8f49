"""The seed's default earning rules: quality post +10 (5 upvotes), verified EA +50, accepted
answer +20 (exempt from the daily cap, like bounties), referral +10. Admins change them later."""

from django.conf import settings
from django.db import migrations

DEFAULTS = [
    # name, event type, coins, min upvotes, exempt from the daily cap
    ("Quality post", "post.upvoted", 10, 5, False),
    ("Verified EA", "ea.verified", 50, 0, False),
    ("Accepted answer", "answer.accepted", 20, 0, True),
    ("Referral", "referral.converted", 10, 0, False),
]


def create(apps, schema_editor):
    EarningRule = apps.get_model("rewards", "EarningRule")
    unit = 10**settings.GOLDBOOK_CURRENCY_DECIMALS
    for name, event_type, coins, upvotes, exempt in DEFAULTS:
        EarningRule.objects.get_or_create(
            name=name,
            event_type=event_type,
            defaults={
                "amount": coins * unit,
                "min_upvotes": upvotes,
                "cycle": "unlimited",
                "max_per_cycle": 0,
                "once_per_object": True,
                "exempt_from_daily_cap": exempt,
            },
        )


def remove(apps, schema_editor):
    EarningRule = apps.get_model("rewards", "EarningRule")
    for name, event_type, *_ in DEFAULTS:
        EarningRule.objects.filter(name=name, event_type=event_type, awards__isnull=True).delete()


class Migration(migrations.Migration):
    dependencies = [("rewards", "0001_initial")]
    operations = [migrations.RunPython(create, remove)]
