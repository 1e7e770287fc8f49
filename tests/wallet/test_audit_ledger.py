"""`manage.py audit_ledger`: passes on a healthy ledger, fails loudly on planted damage.

The damage is planted with raw SQL inside the test transaction (PostgreSQL's deferred balance
trigger never fires because the test never commits), exactly what a buggy migration or a manual
UPDATE in psql would do.
"""

from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection, transaction

from tests.factories import UserFactory, fund, staff
from wallet import services
from wallet.models import SystemAccount, TransferKind

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _discard_planted_damage():
    # Django's TestCase runs the deferred constraint checks at teardown on PostgreSQL, which
    # would fire the balance trigger on the planted rows; mark the test transaction for
    # rollback instead, as the test never meant to commit.
    yield
    transaction.set_rollback(True)


def audit(**kwargs):
    out, err = StringIO(), StringIO()
    try:
        call_command("audit_ledger", stdout=out, stderr=err, **kwargs)
    except CommandError as exc:
        return False, out.getvalue(), err.getvalue(), str(exc)
    return True, out.getvalue(), err.getvalue(), ""


def sql(statement, params=()):
    with connection.cursor() as cur:
        cur.execute(statement, params)


@pytest.fixture
def ledger():
    """A little of everything: purchases, user-to-user, holds in every state, a reversal and an
    approved adjustment."""
    a, b = UserFactory(email="alice@example.com"), UserFactory(email="bob@example.com")
    fund(a, "50.00")
    original = fund(b, "20.00")
    acc_a, acc_b = services.user_account(user_id=a.pk), services.user_account(user_id=b.pk)
    revenue = services.system_account(name=SystemAccount.REVENUE)
    services.transfer_post(
        from_account=acc_a, to_account=acc_b, amount=700, kind=TransferKind.BOUNTY, idempotency_key="a-b"
    )
    pending = services.hold_place(account=acc_a, amount=300, kind=TransferKind.DOWNLOAD, idempotency_key="pending")
    captured = services.hold_place(account=acc_a, amount=400, kind=TransferKind.DOWNLOAD, idempotency_key="cap")
    services.hold_capture(hold_id=captured.pk, amount=250, to_account=revenue)
    released = services.hold_place(account=acc_b, amount=100, kind=TransferKind.DOWNLOAD, idempotency_key="rel")
    services.hold_release(hold_id=released.pk)
    services.transfer_reverse(transfer=original)
    maker, checker = staff("wallet.request_adjustment"), staff("wallet.approve_adjustment")
    req = services.adjustment_request(account=acc_b, amount=-100, reason="test", requested_by_id=maker.pk)
    services.adjustment_approve(request_id=req.pk, approver_id=checker.pk)
    return {"a": acc_a, "b": acc_b, "pending": pending, "captured": captured, "original": original, "adj": req}


def test_a_healthy_ledger_passes_with_a_readable_report(ledger):
    ok, out, err, _ = audit(batch_size=2)  # tiny batches: several ranges per table
    assert ok, out
    assert "Result: the ledger is consistent." in out
    assert "FAIL" not in out
    # a: 5000 - 700 - 250 = 4050; b: 700 (the 20.00 was reversed) - 100 = 600
    assert "users hold 46.50 CREDIT, system accounts -46.50 CREDIT" in out
    assert "issuance" in out and "revenue" in out and "2.50 CREDIT" in out
    assert "audit_ledger: transfers: 100%" in err  # progress goes to stderr


def test_an_empty_ledger_passes():
    ok, out, _, _ = audit()
    assert ok and "consistent" in out


def test_cached_balance_drift_is_reported(ledger):
    sql("UPDATE wallet_account SET balance = balance + 100 WHERE id = %s", [ledger["a"].pk])
    ok, out, _, error = audit()
    assert not ok
    assert (
        f"account #{ledger['a'].pk} (alice@example.com, CREDIT): cached balance 4150 but its entries sum to 4050" in out
    )
    assert "users hold 47.50 CREDIT, system accounts -46.50 CREDIT  FAIL" in out
    assert "Ledger audit failed" in error and "Nothing was changed." in out
    # the audit fixes nothing
    ledger["a"].refresh_from_db()
    assert ledger["a"].balance == 4150


def test_held_out_of_step_with_pending_holds_is_reported(ledger):
    sql("UPDATE wallet_account SET held = 0 WHERE id = %s", [ledger["a"].pk])
    ok, out, _, _ = audit()
    assert not ok
    assert f"account #{ledger['a'].pk} (alice@example.com, CREDIT): held 0 but pending holds sum to 300" in out


def test_version_drift_is_reported(ledger):
    sql("UPDATE wallet_account SET version = version + 1 WHERE id = %s", [ledger["b"].pk])
    ok, out, _, _ = audit()
    assert not ok
    assert "version 5 but 4 entries" in out


def test_an_extra_entry_unbalances_its_transfer_and_the_totals(ledger):
    escrow = services.system_account(name=SystemAccount.ESCROW)
    transfer = ledger["original"]
    sql(
        "INSERT INTO wallet_entry (transfer_id, account_id, amount, created_at) VALUES (%s, %s, 5, %s)",
        [transfer.pk, escrow.pk, transfer.created_at],
    )
    ok, out, _, _ = audit()
    assert not ok
    assert f"transfer #{transfer.pk} (purchase, 2000 CREDIT" in out
    assert "3 entries, expected 2" in out and "entries sum to 5, not 0" in out
    assert "entries sum 0.05 CREDIT" in out


def test_a_broken_balance_chain_is_reported(ledger):
    # An entry appended to a user account behind the services' back: no cached balance moved,
    # and its balance_after does not follow the previous one.
    transfer = ledger["original"]
    escrow = services.system_account(name=SystemAccount.ESCROW)
    sql(
        "INSERT INTO wallet_transfer (currency_id, debit_account_id, credit_account_id, amount, kind, memo,"
        " idempotency_key, fingerprint, cause_id, created_at)"
        " VALUES ('CREDIT', %s, %s, 10, 'bonus', '', 'planted', '', '', %s)",
        [escrow.pk, ledger["b"].pk, transfer.created_at],
    )
    with connection.cursor() as cur:
        cur.execute("SELECT id FROM wallet_transfer WHERE idempotency_key = 'planted'")
        tid = cur.fetchone()[0]
    sql(
        "INSERT INTO wallet_entry (transfer_id, account_id, amount, balance_after, account_version, created_at)"
        " VALUES (%s, %s, -10, NULL, NULL, %s), (%s, %s, 10, 999, 9, %s)",
        [tid, escrow.pk, transfer.created_at, tid, ledger["b"].pk, transfer.created_at],
    )
    ok, out, _, _ = audit()
    assert not ok
    assert f"account #{ledger['b'].pk} entry #" in out
    assert "version 9 after 4, balance_after 999 after 600 +10" in out
    assert "cached balance 600 but its entries sum to 610" in out


def test_a_captured_hold_without_its_capture_is_reported(ledger):
    hold = ledger["pending"]
    sql(
        "UPDATE wallet_hold SET status = 'captured', captured_amount = 300, resolved_at = created_at WHERE id = %s",
        [hold.pk],
    )
    ok, out, _, _ = audit()
    assert not ok
    assert f"hold #{hold.pk} is captured (300 of 300) but has no capture transfer" in out


def test_a_released_hold_with_a_capture_is_reported(ledger):
    hold = ledger["captured"]
    sql("UPDATE wallet_hold SET status = 'released', captured_amount = 0 WHERE id = %s", [hold.pk])
    ok, out, _, _ = audit()
    assert not ok
    assert f"hold #{hold.pk} is released but has capture transfer" in out


def test_an_adjustment_linked_to_the_wrong_transfer_is_reported(ledger):
    sql(
        "UPDATE wallet_adjustmentrequest SET transfer_id = %s WHERE id = %s",
        [ledger["original"].pk, ledger["adj"].pk],
    )
    ok, out, _, _ = audit()
    assert not ok
    assert f"adjustment #{ledger['adj'].pk} (-100 on account #{ledger['b'].pk}) posted as transfer" in out


def test_many_discrepancies_are_counted_and_the_list_is_capped(ledger):
    users = [UserFactory() for _ in range(25)]
    for u in users:
        fund(u, "1.00")
    sql("UPDATE wallet_account SET balance = balance + 1 WHERE user_id IS NOT NULL")
    ok, out, _, error = audit(no_progress=True)
    assert not ok
    assert "27 discrepancies" in out and "… and 7 more" in out
    # the 27 accounts, each again as credit categories no longer summing to it, and the totals
    assert "55 discrepancies" in error
