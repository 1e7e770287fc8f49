"""The ledger under real concurrency on PostgreSQL: threads, each with its own connection.

These are the properties a single-threaded test cannot show: row locks serialise writers so
nothing is overdrawn or lost, one idempotency key posts once however many callers race with it,
the global lock order rules out deadlocks, and the database itself refuses an unbalanced or
edited ledger.
"""

import threading
import time
from collections.abc import Callable

import pytest
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from tests.factories import UserFactory, fund
from wallet import services
from wallet.audit import run_audit
from wallet.errors import HoldNotPending, InsufficientFunds
from wallet.models import Entry, Hold, HoldStatus, SystemAccount, Transfer, TransferKind

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

THREADS = 8
DEADLINE = 60  # seconds; a deadlock or a lost wake-up shows up as threads still alive


def in_threads(work: Callable[[int], object], n: int = THREADS) -> tuple[list[object], list[BaseException]]:
    results: list[object] = [None] * n
    errors: list[BaseException] = []

    def run(i: int) -> None:
        try:
            results[i] = work(i)
        except BaseException as exc:  # noqa: BLE001 - collected and asserted on by the test
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(n)]
    for t in threads:
        t.start()
    started = time.monotonic()
    for t in threads:
        t.join(timeout=max(0.1, DEADLINE - (time.monotonic() - started)))
    assert not any(t.is_alive() for t in threads), "threads still running: deadlock or lost wake-up"
    return results, errors


def assert_audit_clean() -> None:
    result = run_audit()
    assert result.problem_count == 0, [p for c in result.checks for p in c.problems]


def sql(statement: str, params: list[object] | None = None) -> None:
    with connection.cursor() as cur:
        cur.execute(statement, params or [])


# --- the database refuses a damaged ledger ------------------------------------------------------


def test_triggers_refuse_update_and_delete_of_transfers_and_entries():
    user = UserFactory()
    transfer = fund(user, "1.00")
    entry = transfer.entries.first()
    for statement, params in [
        ("UPDATE wallet_transfer SET amount = 1 WHERE id = %s", [transfer.pk]),
        ("UPDATE wallet_transfer SET memo = 'edited' WHERE id = %s", [transfer.pk]),
        ("DELETE FROM wallet_transfer WHERE id = %s", [transfer.pk]),
        ("UPDATE wallet_entry SET amount = amount + 1 WHERE id = %s", [entry.pk]),
        ("DELETE FROM wallet_entry WHERE id = %s", [entry.pk]),
    ]:
        with pytest.raises(IntegrityError, match="append-only"), transaction.atomic():
            sql(statement, params)
    assert Transfer.objects.get(pk=transfer.pk).amount == 100
    assert Entry.objects.filter(transfer=transfer).count() == 2


def test_an_unbalanced_transfer_fails_at_commit():
    user = UserFactory()
    fund(user, "1.00")
    account = services.user_account(user_id=user.pk)
    issuance = services.system_account(name=SystemAccount.ISSUANCE)
    reached_commit = False
    with pytest.raises(IntegrityError, match="unbalanced"), transaction.atomic():
        sql(
            "INSERT INTO wallet_transfer (currency_id, debit_account_id, credit_account_id, amount, kind, memo,"
            " idempotency_key, fingerprint, cause_id, created_at)"
            " VALUES ('CREDIT', %s, %s, 500, 'bonus', '', 'one-sided', '', '', now())",
            [issuance.pk, account.pk],
        )
        sql(
            "INSERT INTO wallet_entry (transfer_id, account_id, amount, created_at)"
            " SELECT id, %s, 500, now() FROM wallet_transfer WHERE idempotency_key = 'one-sided'",
            [account.pk],
        )
        reached_commit = True  # both inserts were accepted: the check is deferred to COMMIT
    assert reached_commit
    assert not Transfer.objects.filter(idempotency_key="one-sided").exists()


def test_a_transfer_with_entries_on_the_wrong_sides_fails_at_commit():
    user = UserFactory()
    fund(user, "1.00")
    account = services.user_account(user_id=user.pk)
    issuance = services.system_account(name=SystemAccount.ISSUANCE)
    with pytest.raises(IntegrityError, match="unbalanced"), transaction.atomic():
        sql(
            "INSERT INTO wallet_transfer (currency_id, debit_account_id, credit_account_id, amount, kind, memo,"
            " idempotency_key, fingerprint, cause_id, created_at)"
            " VALUES ('CREDIT', %s, %s, 500, 'bonus', '', 'backwards', '', '', now())",
            [issuance.pk, account.pk],
        )
        sql(  # sums to zero, but credits the debit account: the wrong direction
            "INSERT INTO wallet_entry (transfer_id, account_id, amount, created_at)"
            " SELECT id, %s, 500, now() FROM wallet_transfer WHERE idempotency_key = 'backwards'"
            " UNION ALL SELECT id, %s, -500, now() FROM wallet_transfer WHERE idempotency_key = 'backwards'",
            [issuance.pk, account.pk],
        )


# --- row locks: no overdraft, no lost update ------------------------------------------------------


@pytest.mark.parametrize("credited", ["system", "user"])
def test_racing_debits_never_overdraw_and_lose_no_update(credited):
    # user -> system takes the one-statement path, user -> user the two-row-lock path.
    user = UserFactory()
    fund(user, "150.00")  # 15000 minor units: room for 150 of the 200 debits below
    account = services.user_account(user_id=user.pk)
    if credited == "system":
        revenue = services.system_account(name=SystemAccount.REVENUE)
    else:
        revenue = services.user_account(user_id=UserFactory().pk)
    per_thread = 25

    def debit(i: int) -> tuple[int, int]:
        ok = refused = 0
        for j in range(per_thread):
            try:
                services.transfer_post(
                    from_account=account,  # a stale object on purpose: the lock must re-read
                    to_account=revenue,
                    amount=100,
                    kind=TransferKind.DOWNLOAD,
                    idempotency_key=f"race:{i}:{j}",
                )
                ok += 1
            except InsufficientFunds:
                refused += 1
        return ok, refused

    results, errors = in_threads(debit)
    assert errors == []
    assert sum(r[0] for r in results) == 150
    assert sum(r[1] for r in results) == 50
    account.refresh_from_db()
    assert (account.balance, account.version) == (0, 151)
    if credited == "user":
        revenue.refresh_from_db()
        assert (revenue.balance, revenue.version) == (15000, 150)
    chain = list(Entry.objects.filter(account=account).order_by("account_version"))
    assert [e.account_version for e in chain] == list(range(1, 152))  # unique and contiguous
    running = 0
    for e in chain:
        running += e.amount
        assert e.balance_after == running >= 0
    assert_audit_clean()


def test_concurrent_calls_with_one_key_post_once():
    user = UserFactory()
    fund(user, "10.00")
    account = services.user_account(user_id=user.pk)
    revenue = services.system_account(name=SystemAccount.REVENUE)
    promotions = services.system_account(name=SystemAccount.PROMOTIONS)
    barrier = threading.Barrier(THREADS)

    def same_key(i: int) -> tuple[int, int]:
        barrier.wait()
        user_side = services.transfer_post(
            from_account=account, to_account=revenue, amount=300, kind=TransferKind.REDEEM, idempotency_key="once"
        )
        barrier.wait()
        # No user account to lock here: the unique key alone must make the losers find the winner.
        system_side = services.transfer_post(
            from_account=promotions, to_account=revenue, amount=700, kind=TransferKind.BONUS, idempotency_key="sys"
        )
        return user_side.pk, system_side.pk

    results, errors = in_threads(same_key)
    assert errors == []
    assert len({r[0] for r in results}) == 1 and len({r[1] for r in results}) == 1
    assert Transfer.objects.filter(idempotency_key__in=["once", "sys"]).count() == 2
    account.refresh_from_db()
    assert account.balance == 700
    assert_audit_clean()


def test_concurrent_holds_with_one_key_place_once():
    user = UserFactory()
    fund(user, "10.00")
    account = services.user_account(user_id=user.pk)
    barrier = threading.Barrier(THREADS)

    def place(i: int) -> int:
        barrier.wait()
        return services.hold_place(account=account, amount=400, kind=TransferKind.DOWNLOAD, idempotency_key="h").pk

    results, errors = in_threads(place)
    assert errors == [] and len(set(results)) == 1
    account.refresh_from_db()
    assert account.held == 400


def test_opposite_transfers_do_not_deadlock():
    a, b = UserFactory(), UserFactory()
    fund(a, "100.00")
    fund(b, "100.00")
    acc_a, acc_b = services.user_account(user_id=a.pk), services.user_account(user_id=b.pk)
    per_thread = 25

    def ping_pong(i: int) -> int:
        source, target = (acc_a, acc_b) if i % 2 else (acc_b, acc_a)
        for j in range(per_thread):
            services.transfer_post(
                from_account=source,
                to_account=target,
                amount=10,
                kind=TransferKind.BOUNTY,
                idempotency_key=f"pp:{i}:{j}",
            )
        return per_thread

    started = time.monotonic()
    results, errors = in_threads(ping_pong)
    assert errors == [], errors[:1]  # a deadlock would surface as OperationalError here
    assert time.monotonic() - started < DEADLINE
    assert Transfer.objects.filter(idempotency_key__startswith="pp:").count() == THREADS * per_thread
    acc_a.refresh_from_db()
    acc_b.refresh_from_db()
    assert acc_a.balance + acc_b.balance == 20000
    assert acc_a.balance == acc_b.balance == 10000  # four threads each way, same amounts
    assert_audit_clean()


def test_concurrent_holds_cannot_exceed_available():
    user = UserFactory()
    fund(user, "10.00")
    account = services.user_account(user_id=user.pk)

    def place(i: int) -> int:
        placed = 0
        for j in range(5):
            try:
                services.hold_place(account=account, amount=50, kind=TransferKind.DOWNLOAD, idempotency_key=f"h{i}:{j}")
                placed += 1
            except InsufficientFunds:
                pass
        return placed

    results, errors = in_threads(place)
    assert errors == []
    assert sum(results) == 20  # 1000 / 50, of the 40 attempted
    account.refresh_from_db()
    assert (account.balance, account.held) == (1000, 1000)
    assert_audit_clean()


def test_a_hold_resolves_exactly_once_under_racing_capture_and_release():
    user = UserFactory()
    fund(user, "10.00")
    account = services.user_account(user_id=user.pk)
    revenue = services.system_account(name=SystemAccount.REVENUE)
    hold = services.hold_place(
        account=account, amount=600, kind=TransferKind.DOWNLOAD, idempotency_key="contended", expires_at=timezone.now()
    )
    barrier = threading.Barrier(THREADS)

    def resolve(i: int) -> str:
        barrier.wait()
        try:
            if i % 3 == 0:
                services.hold_capture(hold_id=hold.pk, amount=400, to_account=revenue)
            elif i % 3 == 1:
                services.hold_release(hold_id=hold.pk)
            else:
                services.holds_expire()
        except HoldNotPending:
            return "refused"
        return "ok"

    results, errors = in_threads(resolve)
    assert errors == []
    hold = Hold.objects.get(pk=hold.pk)
    account.refresh_from_db()
    assert account.held == 0
    if hold.status == HoldStatus.CAPTURED:
        assert account.balance == 600 and Transfer.objects.filter(hold=hold).count() == 1
    else:
        assert account.balance == 1000 and not Transfer.objects.filter(hold=hold).exists()
    assert_audit_clean()


def test_racing_spends_never_overdraw_a_credit_category():
    """Eight spends race on one account holding paid and bonus credits: the row lock serialises
    them, so the lots move in step with the balance and none goes below zero."""
    from wallet.lots import CreditCategory, CreditLot

    user = UserFactory()
    fund(user, "0.50")  # 50 paid
    services.transfer_post(
        from_account=services.system_account(name=SystemAccount.PROMOTIONS),
        to_account=services.user_account(user_id=user.pk),
        amount=30,
        kind=TransferKind.BONUS,
        idempotency_key="bonus",
    )
    account = services.user_account(user_id=user.pk)
    revenue = services.system_account(name=SystemAccount.REVENUE)

    def work(i: int) -> object:
        return services.transfer_post(
            from_account=account, to_account=revenue, amount=15, kind=TransferKind.DOWNLOAD, idempotency_key=f"race:{i}"
        )

    results, errors = in_threads(work)
    assert all(isinstance(e, InsufficientFunds) for e in errors)
    assert sum(1 for r in results if r is not None) == 5 and len(errors) == 3  # 80 // 15
    lots = {lot.category: lot.remaining for lot in CreditLot.objects.filter(account=account)}
    assert lots == {CreditCategory.BONUS: 0, CreditCategory.PAID: 5}
    assert_audit_clean()
