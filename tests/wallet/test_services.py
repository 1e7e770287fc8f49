from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from tests.factories import UserFactory, fund
from wallet import services
from wallet.errors import HoldNotPending, IdempotencyConflict, InsufficientFunds, InvalidAmount
from wallet.models import Entry, HoldStatus, LedgerImmutable, SystemAccount, Transfer, TransferKind
from wallet.selectors import balance_for_user, decode_cursor, history_after

pytestmark = pytest.mark.django_db


def revenue():
    return services.system_account(name=SystemAccount.REVENUE)


def spend(user, amount: int, key: str):
    return services.transfer_post(
        from_account=services.user_account(user_id=user.pk),
        to_account=revenue(),
        amount=amount,
        kind=TransferKind.REDEEM,
        idempotency_key=key,
    )


def test_transfer_moves_money_and_writes_balanced_entries():
    user = UserFactory()
    fund(user, "10.00")
    transfer = spend(user, 350, "spend-1")

    assert balance_for_user(user_id=user.pk).balance == 1000 - 350
    entries = list(transfer.entries.order_by("amount"))
    assert [e.amount for e in entries] == [-350, 350]
    user_entry = entries[0]
    assert user_entry.balance_after == 650
    assert entries[1].balance_after is None  # system side is never locked or cached


def test_same_key_same_parameters_posts_once():
    user = UserFactory()
    fund(user, "10.00")
    first = spend(user, 100, "once")
    second = spend(user, 100, "once")
    assert first.pk == second.pk
    assert balance_for_user(user_id=user.pk).balance == 900


def test_same_key_other_parameters_is_a_conflict():
    user = UserFactory()
    fund(user, "10.00")
    spend(user, 100, "k")
    with pytest.raises(IdempotencyConflict):
        spend(user, 200, "k")
    assert balance_for_user(user_id=user.pk).balance == 900


def test_overdraw_is_refused_and_changes_nothing():
    user = UserFactory()
    fund(user, "1.00")
    with pytest.raises(InsufficientFunds) as exc:
        spend(user, 101, "too-much")
    assert (exc.value.available, exc.value.required, exc.value.needed) == (100, 101, 1)
    assert balance_for_user(user_id=user.pk).balance == 100
    assert not Transfer.objects.filter(idempotency_key="too-much").exists()


@pytest.mark.parametrize("amount", [0, -5, 10**16])
def test_invalid_amounts(amount):
    user = UserFactory()
    fund(user, "1.00")
    with pytest.raises(InvalidAmount):
        spend(user, amount, f"bad-{amount}")


def test_ledger_rows_are_append_only():
    user = UserFactory()
    transfer = fund(user, "1.00")
    with pytest.raises(LedgerImmutable):
        transfer.delete()
    transfer.memo = "changed"
    with pytest.raises(LedgerImmutable):
        transfer.save()
    with pytest.raises(LedgerImmutable):
        Entry.objects.filter(transfer=transfer).first().delete()


def test_hold_counts_against_available_then_capture_and_release():
    user = UserFactory()
    fund(user, "5.00")
    account = services.user_account(user_id=user.pk)
    hold = services.hold_place(account=account, amount=300, kind=TransferKind.DOWNLOAD, idempotency_key="h1")
    bal = balance_for_user(user_id=user.pk)
    assert (bal.balance, bal.held, bal.available) == (500, 300, 200)
    with pytest.raises(InsufficientFunds):
        spend(user, 201, "blocked-by-hold")

    capture = services.hold_capture(hold_id=hold.pk, amount=175, to_account=revenue())
    assert capture.amount == 175
    bal = balance_for_user(user_id=user.pk)
    assert (bal.balance, bal.held) == (325, 0)
    # A retried capture returns the same transfer; a different one is refused.
    assert services.hold_capture(hold_id=hold.pk, amount=175, to_account=revenue()).pk == capture.pk
    with pytest.raises(HoldNotPending):
        services.hold_capture(hold_id=hold.pk, amount=100, to_account=revenue())
    with pytest.raises(HoldNotPending):
        services.hold_release(hold_id=hold.pk)


def test_release_and_expiry_return_the_hold():
    user = UserFactory()
    fund(user, "5.00")
    account = services.user_account(user_id=user.pk)
    h1 = services.hold_place(account=account, amount=100, kind=TransferKind.DOWNLOAD, idempotency_key="a")
    h2 = services.hold_place(
        account=account,
        amount=200,
        kind=TransferKind.DOWNLOAD,
        idempotency_key="b",
        expires_at=timezone.now() - timedelta(seconds=1),
    )
    services.hold_release(hold_id=h1.pk)
    services.hold_release(hold_id=h1.pk)  # releasing twice is harmless
    assert services.holds_expire() == 1
    h2.refresh_from_db()
    assert h2.status == HoldStatus.EXPIRED
    assert balance_for_user(user_id=user.pk).held == 0
    with pytest.raises(HoldNotPending):
        services.hold_capture(hold_id=h2.pk, amount=200, to_account=revenue())


def test_reversal_is_linked_and_happens_once():
    user = UserFactory()
    original = fund(user, "3.00")
    reversal = services.transfer_reverse(transfer=original)
    assert reversal.reverses_id == original.pk
    assert reversal.kind == TransferKind.REVERSAL
    assert services.transfer_reverse(transfer=original).pk == reversal.pk
    assert balance_for_user(user_id=user.pk).balance == 0


def test_history_keyset_pages_cover_everything_once():
    user = UserFactory()
    for i in range(7):
        fund(user, "1.00", key=f"h{i}")
    account = services.user_account(user_id=user.pk)
    seen, cursor = [], None
    while True:
        page = history_after(account=account, limit=3, after_id=decode_cursor(cursor) if cursor else None)
        seen += [e.pk for e in page.entries]
        cursor = page.next_cursor
        if cursor is None:
            break
    assert len(seen) == 7 == len(set(seen))
    assert seen == sorted(seen, reverse=True)
    assert decode_cursor("not-a-cursor") is None
    assert decode_cursor("ZcKy") is None  # "e²": a digit to str.isdigit, not to int()


def test_money_conversion_never_takes_floats():
    from wallet.selectors import default_currency

    currency = default_currency()
    assert currency.to_minor(Decimal("45.50")) == 4550
    assert currency.to_decimal(4550) == Decimal("45.50")
    with pytest.raises(ValueError):
        currency.to_minor(Decimal("0.001"))
    with pytest.raises(TypeError):
        currency.to_minor(0.35)
