"""Drop the ledger indexes that another index covers or that cannot narrow a search (issue 14):
every transfer wrote them. Entries and lot entries are searched through their composite indexes
(transfer + account / lot, account + -id, lot + -id); a transfer's cause through
wallet_transfer_cause_idx; its currency (one or a few per site) through none.

Only the indexes go: the foreign keys stay as they are (Django's AlterField would drop and re-add
each constraint, re-validating it over the whole table), so the state change is separate.
"""

import django.db.models.deletion
from django.db import migrations, models

# (index, table, column); the _like one (varchar_pattern_ops) exists on PostgreSQL only.
INDEXES = [
    ("wallet_entry_account_id_0bb0fd0f", "wallet_entry", "account_id"),
    ("wallet_entry_transfer_id_5c728548", "wallet_entry", "transfer_id"),
    ("wallet_lotentry_lot_id_20fa41e5", "wallet_lotentry", "lot_id"),
    ("wallet_lotentry_transfer_id_5fbf2049", "wallet_lotentry", "transfer_id"),
    ("wallet_transfer_cause_type_id_17beb97e", "wallet_transfer", "cause_type_id"),
    ("wallet_transfer_currency_id_936211b6", "wallet_transfer", "currency_id"),
]
LIKE = ("wallet_transfer_currency_id_936211b6_like", "wallet_transfer", "currency_id varchar_pattern_ops")


def forward(apps, schema_editor):
    names = [name for name, _, _ in INDEXES]
    if schema_editor.connection.vendor == "postgresql":
        names.append(LIKE[0])
    for name in names:
        schema_editor.execute(f'DROP INDEX IF EXISTS "{name}"')


def backward(apps, schema_editor):
    rows = list(INDEXES)
    if schema_editor.connection.vendor == "postgresql":
        rows.append(LIKE)
    for name, table, column in rows:
        column_sql = " ".join([f'"{column.split()[0]}"', *column.split()[1:]])
        schema_editor.execute(f'CREATE INDEX IF NOT EXISTS "{name}" ON "{table}" ({column_sql})')


class Migration(migrations.Migration):
    dependencies = [
        ("wallet", "0013_credit_lots_hot_updates"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[migrations.RunPython(forward, backward)],
            state_operations=[
                migrations.AlterField(
                    model_name="entry",
                    name="account",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="entries",
                        to="wallet.account",
                        verbose_name="account",
                    ),
                ),
                migrations.AlterField(
                    model_name="entry",
                    name="transfer",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="entries",
                        to="wallet.transfer",
                        verbose_name="transfer",
                    ),
                ),
                migrations.AlterField(
                    model_name="lotentry",
                    name="lot",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="entries",
                        to="wallet.creditlot",
                        verbose_name="lot",
                    ),
                ),
                migrations.AlterField(
                    model_name="lotentry",
                    name="transfer",
                    field=models.ForeignKey(
                        blank=True,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="wallet.transfer",
                        verbose_name="transfer",
                    ),
                ),
                migrations.AlterField(
                    model_name="transfer",
                    name="cause_type",
                    field=models.ForeignKey(
                        blank=True,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        to="contenttypes.contenttype",
                        verbose_name="cause type",
                    ),
                ),
                migrations.AlterField(
                    model_name="transfer",
                    name="currency",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        to="wallet.currency",
                        verbose_name="currency",
                    ),
                ),
            ],
        ),
    ]
