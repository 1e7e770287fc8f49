"""Existing balances get their credit categories, once, as part of `migrate`.

A data migration rather than a command to run by hand: from the moment the code of 0005 runs, every
spend draws from lots, so a balance without lots could not be spent; doing it in the same
`migrate` leaves no such window (deploy with the site stopped, as for any ledger migration).
Preview the split first with `manage.py credit_categories --dry-run` (it reads only the ledger).
It calls the wallet service (the only writer of ledger tables), which is written in SQL against
0005's columns, and does nothing on a database with no balances (every fresh or test database).
Lot entries are append-only on PostgreSQL, like ledger entries; the two lot functions let a
transfer's statement move its lots without another round trip under the row lock.
"""

from django.db import migrations

APPEND_ONLY = """
CREATE TRIGGER wallet_lotentry_append_only BEFORE UPDATE OR DELETE ON wallet_lotentry
    FOR EACH ROW EXECUTE FUNCTION wallet_forbid_change();
"""

# Called by wallet.services (`_lots.postgres_calls`) from the statement that writes a transfer,
# under the account's row lock: a plain spend drawn in the spend order (soonest-expiring first,
# then p_order), and a plain credit added to the account's open-ended lot of its category.
LOT_FUNCTIONS = """
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
          FROM wallet_creditlot WHERE account_id = p_account AND remaining > 0
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

CREATE OR REPLACE FUNCTION wallet_lots_credit(p_account bigint, p_category text, p_amount bigint,
                                              p_transfer bigint, p_now timestamptz) RETURNS bigint
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    lot bigint;
BEGIN
    INSERT INTO wallet_creditlot (account_id, category, remaining, expires_at, source_transfer_id,
                                  announced_at, created_at)
    VALUES (p_account, p_category, p_amount, NULL, NULL, NULL, p_now)
    ON CONFLICT (account_id, category) WHERE expires_at IS NULL
    DO UPDATE SET remaining = wallet_creditlot.remaining + EXCLUDED.remaining
    RETURNING id INTO lot;
    INSERT INTO wallet_lotentry (lot_id, transfer_id, amount, created_at) VALUES (lot, p_transfer, p_amount, p_now);
    RETURN p_amount;
END $$;
"""


def forward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(APPEND_ONLY, params=None)
        schema_editor.execute(LOT_FUNCTIONS, params=None)
    from wallet.services.credits import credits_categorise_existing

    credits_categorise_existing(dry_run=False)


def backward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("DROP TRIGGER IF EXISTS wallet_lotentry_append_only ON wallet_lotentry", params=None)
        schema_editor.execute("DROP FUNCTION IF EXISTS wallet_lots_draw(bigint, bigint, bigint, timestamptz, text[])")
        schema_editor.execute("DROP FUNCTION IF EXISTS wallet_lots_credit(bigint, text, bigint, bigint, timestamptz)")


class Migration(migrations.Migration):
    dependencies = [("wallet", "0006_credit_lots")]
    operations = [migrations.RunPython(forward, backward)]
