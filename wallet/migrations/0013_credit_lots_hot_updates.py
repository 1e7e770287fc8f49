"""Credit lots take HOT updates (issue 14): the partial indexes filter on a stored generated column
`live` (remaining > 0) instead of `remaining` itself, so a spend or a credit that leaves a lot with
credits writes no index entry (PostgreSQL decides HOT by whether an indexed or predicate column
changed value; `live` only changes when a lot empties or refills). `wallet_lots_draw` reads the
live lots through the same predicate. Before: every change of a busy lot added a version to all
six of the table's indexes and each draw walked them (bench/ledger.py (b): the hot account's one
live lot had ~7,000 index entries after 15 s, and the draw cost ~60% of a transfer's server time).
"""

from django.db import migrations, models

DRAW = """
CREATE OR REPLACE FUNCTION wallet_lots_draw(p_account bigint, p_amount bigint, p_transfer bigint,
                                            p_now timestamptz, p_order text[]) RETURNS bigint
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    drawn bigint;
BEGIN
    WITH c AS (
        SELECT id, remaining, SUM(remaining) OVER (
                   ORDER BY expires_at ASC NULLS LAST, array_position(p_order, category::text), id
               ) - remaining AS before
          FROM wallet_creditlot WHERE account_id = p_account AND live
    ), d AS (
        SELECT id, LEAST(remaining, p_amount - before) AS take FROM c WHERE before < p_amount
    ), u AS (
        UPDATE wallet_creditlot l SET remaining = l.remaining - d.take FROM d WHERE l.id = d.id
        RETURNING l.id, d.take
    ), i AS (
        INSERT INTO wallet_lotentry (lot_id, transfer_id, amount, created_at)
        SELECT id, p_transfer, -take, p_now FROM u
    )
    SELECT COALESCE(SUM(take), 0) INTO drawn FROM u;
    RETURN drawn;
END $$;
"""


def forward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DRAW, params=None)


def backward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":  # 0007's draw
        schema_editor.execute(DRAW.replace("AND live", "AND remaining > 0"), params=None)


class Migration(migrations.Migration):

    dependencies = [
        ('wallet', '0012_transfer_autocommit'),
    ]

    operations = [
        migrations.RemoveIndex(
            model_name='creditlot',
            name='wallet_creditlot_live_idx',
        ),
        migrations.RemoveIndex(
            model_name='creditlot',
            name='wallet_creditlot_expiry_idx',
        ),
        migrations.AddField(
            model_name='creditlot',
            name='live',
            field=models.GeneratedField(db_persist=True, expression=models.ExpressionWrapper(models.Q(('remaining__gt', 0)), output_field=models.BooleanField()), output_field=models.BooleanField(), verbose_name='has credits left'),
        ),
        migrations.AddIndex(
            model_name='creditlot',
            index=models.Index(condition=models.Q(('live', True)), fields=['account'], name='wallet_creditlot_live_idx'),
        ),
        migrations.AddIndex(
            model_name='creditlot',
            index=models.Index(condition=models.Q(('live', True)), fields=['expires_at'], name='wallet_creditlot_expiry_idx'),
        ),
        migrations.RunPython(forward, backward),
    ]
