"""Error paths and edge cases of the ledger services not covered by test_services."""

from datetime import timedelta

import pytest
from django.contrib.contenttypes.models import ContentType
from django.utils import timezone

from tests.factories import UserFactory, fund
from wallet import services
from wallet.errors import (
    AlreadyReversed,
    CurrencyMismatch,
    HoldNotPending,
    IdempotencyConflict,
    InsufficientFunds,
    InvalidAmount,
)
from wallet.models import Account, Currency, Hold, HoldStatus, SystemAccount, Transfer, TransferKind
from wallet.selectors import (
    account_for_user,
    balance_for_user,
    pending_holds,
    system_account_balance,
)

pytestmark = pytest.mark.django_db


def acct(user):
    return services.user_account(user_id=user.pk)


def revenue():
    return services.system_account(name=SystemAccount.REVENUE)


def hold(user, amount, key, **kw):
    return services.hold_place(account=acct(user), amount=amount, kind=TransferKind.DOWNLOAD, idempotency_key=key, **kw)


def bal(user):
    b = balance_for_user(user_id=user.pk)
    return b.balance, b.held, b.available


# --- accounts -----------------------------------------------------------------------------


def test_user_account_is_created_once_per_user_and_currency():
    user = UserFactory()
    assert account_for_user(user_id=user.pk) is None
    assert bal(user) == (0, 0, 0)
    first = acct(user)
    assert acct(user).pk == first.pk
    assert Account.objects.filter(user=user).count() == 1


def test_system_account_rejects_unknown_names_and_is_unique():
    with pytest.raises(ValueError):
        services.system_account(name="piggy_bank")
    assert revenue().pk == revenue().pk
    assert revenue().is_system


def test_accounts_in_another_currency_do_not_mix():
    Currency.objects.create(code="GEM", name="Gems", decimal_places=0)
    user = UserFactory()
    fund(user, "5.00")
    gems = services.user_account(user_id=user.pk, currency="GEM")
    assert gems.pk != acct(user).pk
    with pytest.raises(CurrencyMismatch):
        services.transfer_post(
            from_account=acct(user), to_account=gems, amount=1, kind=TransferKind.CONVERSION, idempotency_key="x"
        )


# --- transfers ----------------------------------------------------------------------------


@pytest.mark.parametrize("key", ["", "k" * 201, None])
def test_transfer_needs_an_idempotency_key(key):
    user = UserFactory()
    fund(user, "1.00")
    with pytest.raises(ValueError):
        services.transfer_post(
            from_account=acct(user), to_account=revenue(), amount=1, kind=TransferKind.REDEEM, idempotency_key=key
        )


@pytest.mark.parametrize("amount", [True, 1.5, "100"])
def test_transfer_amount_must_be_an_int(amount):
    user = UserFactory()
    fund(user, "1.00")
    with pytest.raises(InvalidAmount):
        services.transfer_post(
            from_account=acct(user), to_account=revenue(), amount=amount, kind=TransferKind.REDEEM, idempotency_key="i"
        )


def test_transfer_to_the_same_account_is_refused():
    user = UserFactory()
    fund(user, "1.00")
    with pytest.raises(InvalidAmount):
        services.transfer_post(
            from_account=acct(user), to_account=acct(user), amount=1, kind=TransferKind.REDEEM, idempotency_key="s"
        )


def test_user_to_user_transfer_moves_both_balances_and_versions():
    a, b = UserFactory(), UserFactory()
    fund(a, "4.00")
    t = services.transfer_post(
        from_account=acct(a), to_account=acct(b), amount=150, kind=TransferKind.BOUNTY, idempotency_key="ab"
    )
    assert bal(a)[0] == 250 and bal(b)[0] == 150
    entries = {e.account_id: e for e in t.entries.all()}
    assert entries[acct(a).pk].balance_after == 250 and entries[acct(a).pk].account_version == 2
    assert entries[acct(b).pk].balance_after == 150 and entries[acct(b).pk].account_version == 1
    assert acct(a).version == 2 and acct(b).version == 1


def test_system_accounts_are_never_cached_their_balance_is_the_sum_of_entries():
    user = UserFactory()
    fund(user, "3.00")
    issuance = services.system_account(name=SystemAccount.ISSUANCE)
    issuance.refresh_from_db()
    assert (issuance.balance, issuance.held, issuance.version) == (0, 0, 0)
    assert system_account_balance(account=issuance) == -300


def test_the_cause_is_linked_and_part_of_the_fingerprint():
    user = UserFactory()
    fund(user, "2.00")
    other = UserFactory()
    t = services.transfer_post(
        from_account=acct(user),
        to_account=revenue(),
        amount=50,
        kind=TransferKind.REDEEM,
        idempotency_key="c",
        cause=other,
    )
    assert t.cause == other
    assert t.cause_type == ContentType.objects.get_for_model(other)
    with pytest.raises(IdempotencyConflict):
        services.transfer_post(
            from_account=acct(user), to_account=revenue(), amount=50, kind=TransferKind.REDEEM, idempotency_key="c"
        )


def test_a_failed_transfer_does_not_burn_its_key():
    user = UserFactory()
    fund(user, "1.00")
    with pytest.raises(InsufficientFunds):
        services.transfer_post(
            from_account=acct(user), to_account=revenue(), amount=150, kind=TransferKind.REDEEM, idempotency_key="r"
        )
    fund(user, "1.00")
    t = services.transfer_post(
        from_account=acct(user), to_account=revenue(), amount=150, kind=TransferKind.REDEEM, idempotency_key="r"
    )
    assert t.amount == 150 and bal(user)[0] == 50


def test_a_key_reused_on_other_accounts_is_a_conflict():
    a, b = UserFactory(), UserFactory()
    fund(a, "1.00")
    fund(b, "1.00")
    services.transfer_post(
        from_account=acct(a), to_account=revenue(), amount=10, kind=TransferKind.REDEEM, idempotency_key="shared"
    )
    with pytest.raises(IdempotencyConflict):
        services.transfer_post(
            from_account=acct(b), to_account=revenue(), amount=10, kind=TransferKind.REDEEM, idempotency_key="shared"
        )
    assert bal(b)[0] == 100


# --- reversals ----------------------------------------------------------------------------


def test_reversal_refused_when_the_credited_user_spent_the_money():
    user = UserFactory()
    original = fund(user, "3.00")
    services.transfer_post(
        from_account=acct(user), to_account=revenue(), amount=250, kind=TransferKind.REDEEM, idempotency_key="spent"
    )
    with pytest.raises(InsufficientFunds) as exc:
        services.transfer_reverse(transfer=original)
    assert exc.value.needed == 250
    assert not Transfer.objects.filter(reverses=original).exists()


def test_reversal_cannot_take_held_money():
    user = UserFactory()
    original = fund(user, "3.00")
    hold(user, 100, "h")
    with pytest.raises(InsufficientFunds):
        services.transfer_reverse(transfer=original)


def test_reversal_keeps_the_original_cause_and_can_itself_be_reversed_once():
    user = UserFactory()
    cause = UserFactory()
    original = services.transfer_post(
        from_account=services.system_account(name=SystemAccount.PROMOTIONS),
        to_account=acct(user),
        amount=500,
        kind=TransferKind.BONUS,
        idempotency_key="bonus",
        cause=cause,
    )
    reversal = services.transfer_reverse(transfer=original)
    assert (reversal.cause_type_id, reversal.cause_id) == (original.cause_type_id, original.cause_id)
    assert reversal.debit_account_id == original.credit_account_id
    assert reversal.memo == f"Reversal of transfer #{original.pk}"
    again = services.transfer_reverse(transfer=reversal)
    assert again.reverses_id == reversal.pk
    assert services.transfer_reverse(transfer=reversal).pk == again.pk
    assert bal(user)[0] == 500


def test_a_second_reversal_under_another_key_is_refused():
    user = UserFactory()
    original = fund(user, "3.00")
    services.transfer_reverse(transfer=original)
    fund(user, "3.00")
    with pytest.raises(AlreadyReversed):
        services.transfer_post(
            from_account=acct(user),
            to_account=original.debit_account,
            amount=original.amount,
            kind=TransferKind.REVERSAL,
            idempotency_key="second-reversal",
            reverses=original,
        )
    assert bal(user)[0] == 300


def test_a_reversal_must_swap_the_accounts_and_move_at_most_the_original_amount():
    user = UserFactory()
    original = fund(user, "3.00")
    with pytest.raises(InvalidAmount):
        services.transfer_post(
            from_account=acct(user),
            to_account=revenue(),
            amount=original.amount,
            kind=TransferKind.REVERSAL,
            idempotency_key="fake-reversal",
            reverses=original,
        )
    with pytest.raises(InvalidAmount):
        services.transfer_post(
            from_account=acct(user),
            to_account=original.debit_account,
            amount=original.amount + 1,
            kind=TransferKind.REVERSAL,
            idempotency_key="over-reversal",
            reverses=original,
        )
    partial = services.transfer_post(
        from_account=acct(user),
        to_account=original.debit_account,
        amount=100,
        kind=TransferKind.REVERSAL,
        idempotency_key="partial-reversal",
        reverses=original,
    )
    assert partial.reverses_id == original.pk
    assert bal(user)[0] == 200
    # At most one reversal per transfer, partial or not.
    assert services.transfer_reverse(transfer=original).pk == partial.pk


# --- holds --------------------------------------------------------------------------------


def test_hold_needs_a_key_and_a_user_account():
    user = UserFactory()
    fund(user, "1.00")
    with pytest.raises(ValueError):
        hold(user, 10, "")
    with pytest.raises(InvalidAmount):
        services.hold_place(account=revenue(), amount=1, kind=TransferKind.DOWNLOAD, idempotency_key="sys")
    with pytest.raises(InvalidAmount):
        hold(user, 0, "zero")


def test_hold_beyond_available_is_refused_and_holds_stack():
    user = UserFactory()
    fund(user, "1.00")
    hold(user, 60, "a")
    with pytest.raises(InsufficientFunds) as exc:
        hold(user, 41, "b")
    assert (exc.value.available, exc.value.required) == (40, 41)
    hold(user, 40, "c")
    assert bal(user) == (100, 100, 0)
    assert pending_holds(account=acct(user)).count() == 2


def test_hold_retry_returns_the_same_hold_and_conflicts_on_other_parameters():
    user = UserFactory()
    fund(user, "1.00")
    h = hold(user, 30, "k")
    assert hold(user, 30, "k").pk == h.pk
    assert bal(user)[1] == 30
    with pytest.raises(IdempotencyConflict):
        hold(user, 31, "k")
    services.hold_release(hold_id=h.pk)
    assert hold(user, 30, "k").pk == h.pk  # a retry after release still answers, places nothing
    assert bal(user)[1] == 0


def test_hold_expiry_defaults_to_the_ttl(settings):
    settings.GOLDBOOK_HOLD_TTL_SECONDS = 120
    user = UserFactory()
    fund(user, "1.00")
    before = timezone.now()
    h = hold(user, 10, "ttl")
    assert before + timedelta(seconds=119) < h.expires_at <= timezone.now() + timedelta(seconds=120)


def test_full_capture_into_a_user_account():
    a, b = UserFactory(), UserFactory()
    fund(a, "2.00")
    h = hold(a, 200, "escrow")
    t = services.hold_capture(hold_id=h.pk, amount=200, to_account=acct(b))
    assert t.kind == TransferKind.DOWNLOAD and t.hold_id == h.pk
    assert bal(a) == (0, 0, 0) and bal(b) == (200, 0, 200)
    h.refresh_from_db()
    assert (h.status, h.captured_amount) == (HoldStatus.CAPTURED, 200)
    assert h.resolved_at is not None


def test_capture_zero_releases_and_is_idempotent_even_after_expiry():
    user = UserFactory()
    fund(user, "2.00")
    h = hold(user, 100, "z")
    assert services.hold_capture(hold_id=h.pk, amount=0, to_account=revenue()) is None
    assert services.hold_capture(hold_id=h.pk, amount=0, to_account=revenue()) is None
    assert Hold.objects.get(pk=h.pk).status == HoldStatus.RELEASED
    late = hold(user, 100, "late", expires_at=timezone.now() - timedelta(seconds=1))
    assert services.holds_expire() == 1
    assert services.hold_capture(hold_id=late.pk, amount=0, to_account=revenue()) is None
    assert bal(user) == (200, 0, 200)


def test_capture_refusals():
    user = UserFactory()
    fund(user, "2.00")
    h = hold(user, 100, "h")
    with pytest.raises(InvalidAmount):
        services.hold_capture(hold_id=h.pk, amount=101, to_account=revenue())
    with pytest.raises(InvalidAmount):
        services.hold_capture(hold_id=h.pk, amount=-1, to_account=revenue())
    with pytest.raises(InvalidAmount):
        services.hold_capture(hold_id=h.pk, amount=50, to_account=acct(user))
    Currency.objects.create(code="GEM", name="Gems", decimal_places=0)
    gems = services.system_account(name=SystemAccount.REVENUE, currency="GEM")
    with pytest.raises(CurrencyMismatch):
        services.hold_capture(hold_id=h.pk, amount=50, to_account=gems)
    assert bal(user) == (200, 100, 100)  # nothing moved
    services.hold_capture(hold_id=h.pk, amount=50, to_account=revenue())
    with pytest.raises(HoldNotPending):  # same amount, other destination
        services.hold_capture(hold_id=h.pk, amount=50, to_account=services.system_account(name=SystemAccount.ESCROW))
    with pytest.raises(HoldNotPending):  # release after capture
        services.hold_capture(hold_id=h.pk, amount=0, to_account=revenue())


def test_released_hold_cannot_be_captured():
    user = UserFactory()
    fund(user, "1.00")
    h = hold(user, 100, "r")
    services.hold_release(hold_id=h.pk)
    with pytest.raises(HoldNotPending):
        services.hold_capture(hold_id=h.pk, amount=10, to_account=revenue())
    assert bal(user) == (100, 0, 100)


def test_expiry_skips_holds_not_yet_due_and_resolved_ones():
    user = UserFactory()
    fund(user, "3.00")
    now = timezone.now()
    due = hold(user, 10, "due", expires_at=now - timedelta(minutes=1))
    hold(user, 20, "later", expires_at=now + timedelta(hours=1))
    captured = hold(user, 30, "cap", expires_at=now - timedelta(minutes=1))
    services.hold_capture(hold_id=captured.pk, amount=30, to_account=revenue())
    assert services.holds_expire(now=now) == 1
    assert services.holds_expire(now=now) == 0
    assert Hold.objects.get(pk=due.pk).status == HoldStatus.EXPIRED
    assert bal(user) == (270, 20, 250)


def test_expire_holds_command_and_task():
    from django.core.management import call_command

    from wallet.tasks import expire_holds

    user = UserFactory()
    fund(user, "1.00")
    hold(user, 10, "a", expires_at=timezone.now() - timedelta(seconds=1))
    hold(user, 10, "b", expires_at=timezone.now() - timedelta(seconds=1))
    assert services.holds_expire(limit=1) == 1
    out = __import__("io").StringIO()
    call_command("expire_holds", stdout=out)
    assert "Expired 1 hold(s)." in out.getvalue()
    assert expire_holds.delay().get() == 0
    assert bal(user)[1] == 0
