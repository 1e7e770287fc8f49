"""A transfer posted on its own is one statement on PostgreSQL (issue 14, migration 0012): the
function call is its own transaction, so a refusal must leave nothing behind, and a short lot
draw is raised by the function rather than rolled back by the caller."""

import pytest
from django.db import connection, transaction

from tests.factories import UserFactory, fund
from wallet import services
from wallet.errors import InsufficientFunds
from wallet.lots import CreditLot
from wallet.models import Account, Entry, Transfer, TransferKind

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def pair() -> tuple[Account, Account]:
    alice, bob = UserFactory.create_batch(2)
    fund(alice, "10.00")
    return services.user_account(user_id=alice.pk), services.user_account(user_id=bob.pk)


def balance(account: Account) -> int:
    return Account.objects.get(pk=account.pk).balance


def test_a_transfer_on_its_own_is_one_round_trip():
    alice, bob = pair()
    start = balance(alice)
    seen: list[tuple[str, bool]] = []

    def record(execute, sql, params, many, context):  # noqa: ANN001
        seen.append((sql.split("(")[0], connection.get_autocommit()))  # autocommit: no BEGIN, no COMMIT
        return execute(sql, params, many, context)

    with connection.execute_wrapper(record):
        transfer = services.transfer_post(
            from_account=alice, to_account=bob, amount=300, kind=TransferKind.BOUNTY, idempotency_key="one-trip"
        )
    # The transfer is the first statement, in autocommit; what follows is the after-commit live
    # update reading the new figures.
    assert seen[0] == ("SELECT status, transfer_id, drawn, available FROM wallet_transfer_post", True)
    assert not any("wallet_transfer_post" in sql or "SAVEPOINT" in sql for sql, _ in seen[1:])
    assert (balance(alice), balance(bob)) == (start - 300, 300)
    assert sorted(Entry.objects.filter(transfer=transfer).values_list("amount", "balance_after")) == [
        (-300, start - 300),
        (300, 300),
    ]
    # Its retry is answered from the same one statement.
    again = services.transfer_post(
        from_account=alice, to_account=bob, amount=300, kind=TransferKind.BOUNTY, idempotency_key="one-trip"
    )
    assert again.pk == transfer.pk and balance(alice) == start - 300


@pytest.mark.parametrize("inside_a_transaction", [False, True], ids=["on its own", "in the caller's transaction"])
def test_lots_short_of_a_debit_refuse_it_and_nothing_stays(inside_a_transaction):
    alice, bob = pair()
    start = balance(alice)
    # Lots that no longer cover the balance (only ever by a defect): the draw comes up short.
    CreditLot.objects.filter(account=alice).update(remaining=100)
    before = Transfer.objects.count()

    def post() -> None:
        services.transfer_post(
            from_account=alice, to_account=bob, amount=300, kind=TransferKind.BOUNTY, idempotency_key="short-lots"
        )

    if inside_a_transaction:
        with transaction.atomic():
            with pytest.raises(InsufficientFunds) as refused:
                post()
            fund(UserFactory(), "1.00")  # the caller's transaction goes on
    else:
        with pytest.raises(InsufficientFunds) as refused:
            post()
    assert (refused.value.available, refused.value.required) == (100, 300)
    assert Transfer.objects.count() == before + (1 if inside_a_transaction else 0)
    assert not Transfer.objects.filter(idempotency_key="short-lots").exists()
    assert (balance(alice), balance(bob)) == (start, 0)
    assert sum(CreditLot.objects.filter(account=alice).values_list("remaining", flat=True)) == 100
