from django.conf import settings
from django.db import migrations


def create_currency(apps, schema_editor):
    Currency = apps.get_model("wallet", "Currency")
    Currency.objects.get_or_create(
        code=settings.GOLDBOOK_CURRENCY_CODE,
        defaults={"name": settings.GOLDBOOK_CURRENCY_NAME, "decimal_places": settings.GOLDBOOK_CURRENCY_DECIMALS},
    )


class Migration(migrations.Migration):
    dependencies = [("wallet", "0002_ledger_triggers")]
    operations = [migrations.RunPython(create_currency, migrations.RunPython.noop)]
