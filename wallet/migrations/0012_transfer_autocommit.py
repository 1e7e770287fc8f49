"""Transfers in one statement (issue 14, round two): a transfer posted outside any transaction is
one `SELECT wallet_transfer_post(...)` in autocommit, its own transaction, so the function must
never leave a partial write behind when it refuses.

- `wallet_transfer_post` raises (SQLSTATE GBL01, DETAIL "drawn amount") when the credit lots cover
  less than a debit, instead of returning what they covered for the caller to roll back: every
  other refusal ('short', 'hold', 'existing') already returns before the first write.
- `wallet_lots_credit` updates the account's open-ended lot of the category first and only inserts
  (ON CONFLICT, as before) when there is none: the caller holds the account's row lock, so the
  lot cannot appear concurrently, and a plain UPDATE skips the speculative insertion every credit
  paid for.
- The deferred balance check of an entry (`wallet_entry_balanced`) is skipped when its transfer
  row was written by the same transaction: that transfer's own deferred check
  (`wallet_transfer_balanced`) runs at the same commit over all its entries. An entry added to an
  older transfer is still checked. This leaves one check per transfer instead of three
  (bench/ledger.py: ~10% of the server time of a transfer).
"""

from django.db import migrations

FUNCTIONS = """
CREATE OR REPLACE FUNCTION wallet_transfer_post(
    p_debit bigint, p_credit bigint, p_payer bigint, p_guard boolean, p_amount bigint,
    p_currency text, p_kind text, p_memo text, p_key text, p_fingerprint text,
    p_reverses bigint, p_cause_type integer, p_cause_id text, p_created_by bigint,
    p_now timestamptz, p_draw_order text[], p_credit_category text, p_single text,
    OUT status text, OUT transfer_id bigint, OUT drawn bigint, OUT available bigint)
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    r wallet_account%ROWTYPE;
    d wallet_account%ROWTYPE;
    c wallet_account%ROWTYPE;
    on_hold boolean := false;
    d_balance bigint;
    d_version bigint;
    c_balance bigint;
    c_version bigint;
BEGIN
    -- A retry gets its transfer back before waiting for any lock.
    SELECT t.id INTO transfer_id FROM wallet_transfer t WHERE t.idempotency_key = p_key;
    IF transfer_id IS NOT NULL THEN
        status := 'existing';
        RETURN;
    END IF;
    -- One user account and a system one (p_single names the user side): the UPDATE takes the row
    -- lock and checks funds and hold on the latest row version (EvalPlanQual), in one statement.
    IF p_single = 'debit' THEN
        UPDATE wallet_account SET balance = balance - p_amount, version = version + 1
         WHERE id = p_debit AND user_id IS NOT NULL AND balance - held >= p_amount AND NOT (p_guard AND frozen)
        RETURNING balance, version INTO d_balance, d_version;
    ELSIF p_single = 'credit' THEN
        UPDATE wallet_account SET balance = balance + p_amount, version = version + 1
         WHERE id = p_credit AND user_id IS NOT NULL
        RETURNING balance, version INTO c_balance, c_version;
    END IF;
    IF d_version IS NULL AND c_version IS NULL THEN
        -- The general path (and a refused single one): lock the user accounts in id order, check.
        FOR r IN SELECT * FROM wallet_account WHERE id IN (p_debit, p_credit, p_payer) AND user_id IS NOT NULL
                 ORDER BY id FOR NO KEY UPDATE LOOP
            IF r.id = p_debit THEN d := r; END IF;
            IF r.id = p_credit THEN c := r; END IF;
            IF r.id = p_payer AND r.frozen THEN on_hold := true; END IF;
        END LOOP;
        IF d.id IS NOT NULL THEN
            on_hold := on_hold OR (p_guard AND d.frozen);
            available := d.balance - d.held;
        END IF;
        IF on_hold OR available < p_amount THEN
            -- Under the lock: a transfer that already happened under this key is returned.
            SELECT t.id INTO transfer_id FROM wallet_transfer t WHERE t.idempotency_key = p_key;
            status := CASE WHEN transfer_id IS NOT NULL THEN 'existing' WHEN on_hold THEN 'hold' ELSE 'short' END;
            RETURN;
        END IF;
        IF d.id IS NOT NULL THEN
            UPDATE wallet_account SET balance = balance - p_amount, version = version + 1 WHERE id = d.id
            RETURNING balance, version INTO d_balance, d_version;
        END IF;
        IF c.id IS NOT NULL THEN
            UPDATE wallet_account SET balance = balance + p_amount, version = version + 1 WHERE id = c.id
            RETURNING balance, version INTO c_balance, c_version;
        END IF;
    END IF;
    INSERT INTO wallet_transfer (currency_id, debit_account_id, credit_account_id, amount, kind, memo,
                                 idempotency_key, fingerprint, reverses_id, hold_id, cause_type_id,
                                 cause_id, created_by_id, created_at)
    VALUES (p_currency, p_debit, p_credit, p_amount, p_kind, p_memo, p_key, p_fingerprint, p_reverses,
            NULL, p_cause_type, p_cause_id, p_created_by, p_now)
    RETURNING id INTO transfer_id;
    INSERT INTO wallet_entry (transfer_id, account_id, amount, balance_after, account_version, created_at)
    VALUES (transfer_id, p_debit, -p_amount, d_balance, d_version, p_now),
           (transfer_id, p_credit, p_amount, c_balance, c_version, p_now);
    IF d_version IS NOT NULL AND p_draw_order IS NOT NULL THEN
        drawn := wallet_lots_draw(p_debit, p_amount, transfer_id, p_now, p_draw_order);
        IF drawn < p_amount THEN
            -- Lots short of the balance: nothing of this call may stay, also when it is its own
            -- transaction (autocommit), so raise; the caller maps it to InsufficientFunds.
            RAISE EXCEPTION 'wallet: the credit lots of account % cover % of %', p_debit, drawn, p_amount
                USING ERRCODE = 'GBL01', DETAIL = drawn::text || ' ' || p_amount::text;
        END IF;
    END IF;
    IF c_version IS NOT NULL AND p_credit_category IS NOT NULL THEN
        PERFORM wallet_lots_credit(p_credit, p_credit_category, p_amount, transfer_id, p_now);
    END IF;
    status := 'ok';
END $$;

CREATE OR REPLACE FUNCTION wallet_lots_credit(p_account bigint, p_category text, p_amount bigint,
                                              p_transfer bigint, p_now timestamptz) RETURNS bigint
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    lot bigint;
BEGIN
    UPDATE wallet_creditlot SET remaining = remaining + p_amount
     WHERE account_id = p_account AND category = p_category AND expires_at IS NULL
    RETURNING id INTO lot;
    IF lot IS NULL THEN
        INSERT INTO wallet_creditlot (account_id, category, remaining, expires_at, source_transfer_id,
                                      announced_at, created_at)
        VALUES (p_account, p_category, p_amount, NULL, NULL, NULL, p_now)
        ON CONFLICT (account_id, category) WHERE expires_at IS NULL
        DO UPDATE SET remaining = wallet_creditlot.remaining + EXCLUDED.remaining
        RETURNING id INTO lot;
    END IF;
    INSERT INTO wallet_lotentry (lot_id, transfer_id, amount, created_at) VALUES (lot, p_transfer, p_amount, p_now);
    RETURN p_amount;
END $$;

CREATE OR REPLACE FUNCTION wallet_entry_balanced() RETURNS trigger AS $$
BEGIN
    -- xmin is the (sub)transaction that wrote the transfer row: ours (top level) means its own
    -- deferred check runs at this commit too. A transfer written in a savepoint is checked here.
    IF NOT EXISTS (SELECT 1 FROM wallet_transfer t
                    WHERE t.id = NEW.transfer_id AND t.xmin = pg_current_xact_id()::xid) THEN
        PERFORM wallet_check_transfer(NEW.transfer_id);
    END IF;
    RETURN NULL;
END $$ LANGUAGE plpgsql;
"""

ENTRY_CHECK_0002 = """
CREATE OR REPLACE FUNCTION wallet_entry_balanced() RETURNS trigger AS $$
BEGIN
    PERFORM wallet_check_transfer(NEW.transfer_id);
    RETURN NULL;
END $$ LANGUAGE plpgsql;
"""


def _earlier(name: str) -> object:
    import importlib

    return importlib.import_module(f"wallet.migrations.{name}")


def forward(apps: object, schema_editor: object) -> None:
    if schema_editor.connection.vendor == "postgresql":  # type: ignore[attr-defined]
        schema_editor.execute(FUNCTIONS, params=None)  # type: ignore[attr-defined]


def backward(apps: object, schema_editor: object) -> None:
    if schema_editor.connection.vendor == "postgresql":  # type: ignore[attr-defined]
        schema_editor.execute(_earlier("0007_categorise_existing_balances").LOT_FUNCTIONS, params=None)  # type: ignore[attr-defined]
        schema_editor.execute(_earlier("0011_transfer_functions").FUNCTIONS, params=None)  # type: ignore[attr-defined]
        schema_editor.execute(ENTRY_CHECK_0002, params=None)  # type: ignore[attr-defined]


class Migration(migrations.Migration):
    dependencies = [("wallet", "0011_transfer_functions")]
    operations = [migrations.RunPython(forward, backward)]
