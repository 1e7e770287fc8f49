"""`transfers_post_batch` (issue 14): several transfers in one call (one PL/pgSQL call on
PostgreSQL, the Python path on SQLite), all or nothing, each with its own idempotency key."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.factories import UserFactory, fund
from tests.wallet.test_member_holds import reviewer
from wallet import services
from wallet.errors import AccountOnHold, IdempotencyConflict, InsufficientFunds
from wallet.lots import CreditLot
from wallet.models import Entry, SystemAccount, Transfer, TransferKind
from wallet.selectors import balance_for_user

pytestmark = pytest.mark.django_db


def account(user):
    return services.user_account(user_id=user.pk)


def pool():
    return services.system_account(name=SystemAccount.REWARDS_POOL)


def revenue():
    return services.system_account(name=SystemAccount.REVENUE)


def earn(user, amount: int, key: str) -> services.TransferSpec:
    return services.TransferSpec(
        from_account=pool(), to_account=account(user), amount=amount, kind=TransferKind.EARN, idempotency_key=key
    )


def test_batch_posts_each_transfer_in_order_with_balances_and_lots():
    alice, bob = UserFactory(), UserFactory()
    fund(alice, "10.00")
    posted = services.transfers_post_batch(
        transfers=[
            earn(bob, 200, "b-1"),
            services.TransferSpec(
                from_account=account(alice),
                to_account=account(bob),
                amount=300,
                kind="adjustment",
                idempotency_key="b-2",
            ),
            earn(bob, 50, "b-3"),
            services.TransferSpec(
                from_account=account(bob),
                to_account=revenue(),
                amount=500,
                kind=TransferKind.REDEEM,
                idempotency_key="b-4",
            ),
        ]
    )
    assert [t.idempotency_key for t in posted] == ["b-1", "b-2", "b-3", "b-4"]
    assert all(t.pk == Transfer.objects.get(idempotency_key=t.idempotency_key).pk for t in posted)
    assert balance_for_user(user_id=alice.pk).balance == 700
    assert balance_for_user(user_id=bob.pk).balance == 50
    bob_entries = Entry.objects.filter(account=account(bob)).order_by("account_version")
    assert [(e.amount, e.balance_after, e.account_version) for e in bob_entries] == [
        (200, 200, 1),
        (300, 500, 2),
        (50, 550, 3),
        (-500, 50, 4),
    ]
    assert sum(CreditLot.objects.filter(account=account(bob)).values_list("remaining", flat=True)) == 50


def test_batch_is_all_or_nothing():
    alice = UserFactory()
    fund(alice, "1.00")
    before = Transfer.objects.count()
    with pytest.raises(InsufficientFunds):
        services.transfers_post_batch(
            transfers=[
                earn(alice, 100, "x-1"),
                services.TransferSpec(
                    from_account=account(alice), to_account=revenue(), amount=250, kind="redeem", idempotency_key="x-2"
                ),
            ]
        )
    assert Transfer.objects.count() == before
    assert balance_for_user(user_id=alice.pk).balance == 100


def test_retried_batch_posts_nothing_twice_and_a_changed_one_conflicts():
    alice = UserFactory()
    batch = [earn(alice, 100, "r-1"), earn(alice, 200, "r-2")]
    first = services.transfers_post_batch(transfers=batch)
    again = services.transfers_post_batch(transfers=batch)
    assert [t.pk for t in again] == [t.pk for t in first]
    assert balance_for_user(user_id=alice.pk).balance == 300
    with pytest.raises(IdempotencyConflict):
        services.transfers_post_batch(transfers=[earn(alice, 100, "r-1"), earn(alice, 999, "r-2")])
    assert balance_for_user(user_id=alice.pk).balance == 300


def test_member_on_hold_is_not_debited_in_a_batch():
    alice = UserFactory()
    fund(alice, "5.00")
    services.member_hold(user_id=alice.pk, reason="Velocity", staff_id=reviewer().pk)
    with pytest.raises(AccountOnHold):
        services.transfers_post_batch(
            transfers=[
                earn(alice, 100, "h-1"),  # a credit is never stopped, but the batch is all or nothing
                services.TransferSpec(
                    from_account=account(alice), to_account=revenue(), amount=100, kind="redeem", idempotency_key="h-2"
                ),
            ]
        )
    assert balance_for_user(user_id=alice.pk).balance == 500


def test_expiring_credit_in_a_batch_opens_its_lot():
    alice = UserFactory()
    services.transfers_post_batch(
        transfers=[
            services.TransferSpec(
                from_account=services.system_account(name=SystemAccount.PROMOTIONS),
                to_account=account(alice),
                amount=100,
                kind=TransferKind.BONUS,
                idempotency_key="w-1",
                credit_source="welcome",
            ),
            earn(alice, 50, "w-2"),
        ]
    )
    lots = CreditLot.objects.filter(account=account(alice))
    assert sorted((lot.category, lot.remaining, lot.expires_at is not None) for lot in lots) == [
        ("earned", 50, False),
        ("granted", 100, True),
    ]


@pytest.mark.skipif("connection.vendor != 'postgresql'")
def test_a_batch_is_one_statement_on_postgresql():
    users = UserFactory.create_batch(5)
    specs = [earn(user, 10, f"q-{user.pk}") for user in users]
    with CaptureQueriesContext(connection) as ctx:
        services.transfers_post_batch(transfers=specs)
    batch_calls = [q for q in ctx.captured_queries if "wallet_transfers_post_batch" in q["sql"]]
    assert len(batch_calls) == 1
    assert len(ctx.captured_queries) <= 3  # savepoint, the call, release
