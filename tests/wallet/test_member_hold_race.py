"""A hold and a spend racing on PostgreSQL: the spend waits for the hold's row lock and, once the
hold commits, re-reads the row and is refused; no spend lands after the hold."""

import threading

import pytest
from django.db import connection, transaction

from tests.factories import UserFactory, fund
from tests.wallet.test_concurrency import in_threads
from tests.wallet.test_member_holds import reviewer
from wallet import services
from wallet.errors import AccountOnHold
from wallet.models import SystemAccount, Transfer, TransferKind

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def _wait_until_blocked_on_a_lock() -> None:
    """Poll until another backend is waiting for a lock (the spend queued behind the hold)."""
    for _ in range(100_000):
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()"
            )
            if cursor.fetchone()[0]:
                return
    raise AssertionError("the spend never queued behind the hold")


@pytest.mark.parametrize("to", ["system", "member"])  # the one-statement path, the two-lock path
def test_a_spend_queued_behind_a_hold_is_refused_once_the_hold_commits(to):
    member = UserFactory()
    fund(member, "10.00", key="fund")
    staff = reviewer()
    account = services.user_account(user_id=member.pk)
    target = (
        services.system_account(name=SystemAccount.REVENUE)
        if to == "system"
        else services.user_account(user_id=UserFactory().pk)
    )
    hold_locked, commit_hold = threading.Event(), threading.Event()

    def work(i: int) -> object:
        if i == 0:
            with transaction.atomic():
                services.member_hold(user_id=member.pk, reason="race", staff_id=staff.pk)
                hold_locked.set()
                assert commit_hold.wait(30)
            return "held"
        assert hold_locked.wait(30)
        try:
            services.transfer_post(
                from_account=account, to_account=target, amount=100, kind=TransferKind.DOWNLOAD, idempotency_key="r"
            )
        except AccountOnHold:
            return "refused"
        return "spent"

    def release() -> None:
        assert hold_locked.wait(30)
        _wait_until_blocked_on_a_lock()
        commit_hold.set()
        connection.close()

    releaser = threading.Thread(target=release, daemon=True)
    releaser.start()
    results, errors = in_threads(work, n=2)
    releaser.join(30)
    assert errors == []
    assert results == ["held", "refused"]
    assert not Transfer.objects.filter(idempotency_key="r").exists()
    account.refresh_from_db()
    assert (account.balance, account.frozen) == (1000, True)


def test_no_spend_started_after_the_hold_committed_lands():
    member = UserFactory()
    fund(member, "100.00", key="fund")
    staff = reviewer()
    account = services.user_account(user_id=member.pk)
    revenue = services.system_account(name=SystemAccount.REVENUE)
    committed = threading.Event()

    def work(i: int) -> list[tuple[bool, bool]]:
        if i == 0:
            services.member_hold(user_id=member.pk, reason="race", staff_id=staff.pk)
            committed.set()
            return []
        outcomes = []  # (started after the hold committed, spent)
        for j in range(20):
            after = committed.is_set()
            try:
                services.transfer_post(
                    from_account=account,
                    to_account=revenue,
                    amount=10,
                    kind=TransferKind.DOWNLOAD,
                    idempotency_key=f"s:{i}:{j}",
                )
                outcomes.append((after, True))
            except AccountOnHold:
                outcomes.append((after, False))
        return outcomes

    results, errors = in_threads(work, n=6)
    assert errors == []
    outcomes = [o for r in results for o in r]  # type: ignore[union-attr]
    assert not [o for o in outcomes if o == (True, True)]
    account.refresh_from_db()
    assert account.balance == 10000 - 10 * sum(spent for _, spent in outcomes)
