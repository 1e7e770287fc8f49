"""Database-side ledger invariants (PostgreSQL; SQLite relies on the services and checks).

- Transfers and entries are append-only: UPDATE and DELETE raise.
- At commit (deferred constraint triggers), every transfer has exactly two entries: minus the
  amount on the debited account and plus the amount on the credited one, so entries sum to zero.
"""

from django.db import migrations

FORWARD = """
CREATE OR REPLACE FUNCTION wallet_forbid_change() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'wallet: % rows are append-only (% refused)', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'integrity_constraint_violation';
END $$ LANGUAGE plpgsql;

CREATE TRIGGER wallet_transfer_append_only BEFORE UPDATE OR DELETE ON wallet_transfer
    FOR EACH ROW EXECUTE FUNCTION wallet_forbid_change();
CREATE TRIGGER wallet_entry_append_only BEFORE UPDATE OR DELETE ON wallet_entry
    FOR EACH ROW EXECUTE FUNCTION wallet_forbid_change();

CREATE OR REPLACE FUNCTION wallet_check_transfer(tid bigint) RETURNS void AS $$
DECLARE
    t wallet_transfer%ROWTYPE;
    n integer;
    total bigint;
    debit bigint;
    credit bigint;
BEGIN
    SELECT * INTO t FROM wallet_transfer WHERE id = tid;
    SELECT count(*), coalesce(sum(amount), 0),
           coalesce(sum(amount) FILTER (WHERE account_id = t.debit_account_id), 0),
           coalesce(sum(amount) FILTER (WHERE account_id = t.credit_account_id), 0)
      INTO n, total, debit, credit
      FROM wallet_entry WHERE transfer_id = tid;
    IF n <> 2 OR total <> 0 OR debit <> -t.amount OR credit <> t.amount THEN
        RAISE EXCEPTION 'wallet: transfer % is unbalanced (% entries, sum %)', tid, n, total
            USING ERRCODE = 'check_violation';
    END IF;
END $$ LANGUAGE plpgsql;

CREATE OR REPLACE FUNCTION wallet_transfer_balanced() RETURNS trigger AS $$
BEGIN
    PERFORM wallet_check_transfer(NEW.id);
    RETURN NULL;
END $$ LANGUAGE plpgsql;

CREATE OR REPLACE FUNCTION wallet_entry_balanced() RETURNS trigger AS $$
BEGIN
    PERFORM wallet_check_transfer(NEW.transfer_id);
    RETURN NULL;
END $$ LANGUAGE plpgsql;

CREATE CONSTRAINT TRIGGER wallet_transfer_balanced AFTER INSERT ON wallet_transfer
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION wallet_transfer_balanced();
CREATE CONSTRAINT TRIGGER wallet_entry_balanced AFTER INSERT ON wallet_entry
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION wallet_entry_balanced();
"""

BACKWARD = """
DROP TRIGGER IF EXISTS wallet_entry_balanced ON wallet_entry;
DROP TRIGGER IF EXISTS wallet_transfer_balanced ON wallet_transfer;
DROP TRIGGER IF EXISTS wallet_entry_append_only ON wallet_entry;
DROP TRIGGER IF EXISTS wallet_transfer_append_only ON wallet_transfer;
DROP FUNCTION IF EXISTS wallet_entry_balanced();
DROP FUNCTION IF EXISTS wallet_transfer_balanced();
DROP FUNCTION IF EXISTS wallet_check_transfer(bigint);
DROP FUNCTION IF EXISTS wallet_forbid_change();
"""


def forward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(FORWARD, params=None)


def backward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(BACKWARD, params=None)


class Migration(migrations.Migration):
    dependencies = [("wallet", "0001_initial")]
    operations = [migrations.RunPython(forward, backward)]
