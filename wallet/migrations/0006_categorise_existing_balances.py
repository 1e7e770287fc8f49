"""Existing balances get their credit categories, once, as part of `migrate`.

A data migration rather than a command to run by hand: from the moment the code of 0005 runs, every
spend draws from lots, so a balance without lots could not be spent; doing it in the same
`migrate` leaves no such window (deploy with the site stopped, as for any ledger migration).
Preview the split first with `manage.py credit_categories --dry-run` (it reads only the ledger).
It calls the wallet service (the only writer of ledger tables), which is written in SQL against
0005's columns, and does nothing on a database with no balances (every fresh or test database).
Lot entries are append-only on PostgreSQL, like ledger entries.
"""

from django.db import migrations

APPEND_ONLY = """
CREATE TRIGGER wallet_lotentry_append_only BEFORE UPDATE OR DELETE ON wallet_lotentry
    FOR EACH ROW EXECUTE FUNCTION wallet_forbid_change();
"""


def forward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(APPEND_ONLY, params=None)
    from wallet.services.credits import credits_categorise_existing

    credits_categorise_existing(dry_run=False)


def backward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("DROP TRIGGER IF EXISTS wallet_lotentry_append_only ON wallet_lotentry", params=None)


class Migration(migrations.Migration):
    dependencies = [("wallet", "0005_credit_lots")]
    operations = [migrations.RunPython(forward, backward)]
