"""Transfers in one round trip (issue 14): the PostgreSQL transfer path as PL/pgSQL functions, called
by wallet.services once per transfer (`wallet_transfer_post`) or once for several
(`wallet_transfers_post_batch`). SQLite keeps the Python path, which does the same steps.

`wallet_transfer_post` returns an earlier transfer with the same idempotency key ('existing': the
caller compares fingerprints); locks the user accounts among debit, credit and payer in id order
(FOR NO KEY UPDATE; a transfer between one user account and a system account takes its one lock
with the UPDATE that checks funds and hold, as the one-statement path before it did), refuses a debit of a member on hold ('hold', when p_guard) or one
the available balance does not cover ('short'), and otherwise writes the transfer, its two
entries (`balance_after` and the account version on the user side) and the new balances, and
moves the plain credit lots (`wallet_lots_draw` / `wallet_lots_credit` of migration 0007; the
caller does the rest, and checks what the draw covered). A key taken concurrently raises the
unique violation, as the INSERT always did. The batch first locks every user account of the batch
in id order (so two batches never wait in a cycle), then posts each transfer in order and stops
at the first refusal (the caller rolls the whole batch back).
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
    END IF;
    IF c_version IS NOT NULL AND p_credit_category IS NOT NULL THEN
        PERFORM wallet_lots_credit(p_credit, p_credit_category, p_amount, transfer_id, p_now);
    END IF;
    status := 'ok';
END $$;

CREATE OR REPLACE FUNCTION wallet_transfers_post_batch(
    p_debit bigint[], p_credit bigint[], p_payer bigint[], p_guard boolean[], p_amount bigint[],
    p_currency text[], p_kind text[], p_memo text[], p_key text[], p_fingerprint text[],
    p_reverses bigint[], p_cause_type integer[], p_cause_id text[], p_created_by bigint[],
    p_now timestamptz, p_draw boolean[], p_order text[], p_credit_category text[], p_single text[])
RETURNS TABLE(status text, transfer_id bigint, drawn bigint, available bigint)
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    i integer;
BEGIN
    PERFORM 1 FROM wallet_account WHERE id = ANY (p_debit || p_credit || p_payer) AND user_id IS NOT NULL
      ORDER BY id FOR NO KEY UPDATE;
    FOR i IN 1 .. coalesce(array_length(p_debit, 1), 0) LOOP
        SELECT * INTO status, transfer_id, drawn, available FROM wallet_transfer_post(
            p_debit[i], p_credit[i], p_payer[i], p_guard[i], p_amount[i], p_currency[i], p_kind[i],
            p_memo[i], p_key[i], p_fingerprint[i], p_reverses[i], p_cause_type[i], p_cause_id[i],
            p_created_by[i], p_now, CASE WHEN p_draw[i] THEN p_order END, p_credit_category[i], p_single[i]);
        RETURN NEXT;
        EXIT WHEN status NOT IN ('ok', 'existing');
    END LOOP;
END $$;
"""

DROP = """
DROP FUNCTION IF EXISTS wallet_transfers_post_batch(bigint[], bigint[], bigint[], boolean[], bigint[], text[],
    text[], text[], text[], text[], bigint[], integer[], text[], bigint[], timestamptz, boolean[], text[], text[], text[]);
DROP FUNCTION IF EXISTS wallet_transfer_post(bigint, bigint, bigint, boolean, bigint, text, text, text, text, text,
    bigint, integer, text, bigint, timestamptz, text[], text, text);
"""


def forward(apps: object, schema_editor: object) -> None:
    if schema_editor.connection.vendor == "postgresql":  # type: ignore[attr-defined]
        schema_editor.execute(FUNCTIONS, params=None)  # type: ignore[attr-defined]


def backward(apps: object, schema_editor: object) -> None:
    if schema_editor.connection.vendor == "postgresql":  # type: ignore[attr-defined]
        schema_editor.execute(DROP, params=None)  # type: ignore[attr-defined]


class Migration(migrations.Migration):
    dependencies = [("wallet", "0010_member_holds")]
    operations = [migrations.RunPython(forward, backward)]
