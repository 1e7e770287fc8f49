"""Members on hold for review (issue 13): every way money leaves a held member's wallet is
refused in wallet.services, on PostgreSQL's one-statement path and on the general/SQLite path;
what comes in still arrives; staff corrections still post; clearing restores; every decision is
kept with who and why."""

from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission
from django.utils import timezone

from tests.factories import UserFactory, fund
from wallet import services
from wallet.errors import AccountOnHold, MemberHoldError
from wallet.models import Account, Currency, HoldStatus, LedgerImmutable, MemberHold, SystemAccount, TransferKind
from wallet.selectors import balance_for_user, member_hold_history, member_on_hold

pytestmark = pytest.mark.django_db


def reviewer(**fields):
    staff = UserFactory(is_staff=True, **fields)
    staff.user_permissions.add(Permission.objects.get(codename="review_fraud", content_type__app_label="wallet"))
    return staff


def held_member(amount: str = "10.00"):
    member = UserFactory()
    fund(member, amount, key=f"fund:{member.pk}")
    services.member_hold(user_id=member.pk, reason="Shared wallet with 3 accounts", staff_id=reviewer().pk)
    return member


def acct(user):
    return services.user_account(user_id=user.pk)


def system(name=SystemAccount.REVENUE):
    return services.system_account(name=name)


def post(debit, credit, *, kind=TransferKind.DOWNLOAD, key="k", amount=100, **kw):
    return services.transfer_post(
        from_account=debit, to_account=credit, amount=amount, kind=kind, idempotency_key=key, **kw
    )


# --- what a hold refuses -------------------------------------------------------------------------


@pytest.mark.parametrize("kind", [TransferKind.DOWNLOAD, TransferKind.REDEEM, TransferKind.ESCROW])
def test_a_held_member_cannot_spend_on_the_single_statement_path(kind):
    member = held_member()
    with pytest.raises(AccountOnHold) as refused:
        post(acct(member), system(), kind=kind)
    assert (refused.value.code, refused.value.status) == ("account_on_hold", 403)
    assert balance_for_user(user_id=member.pk).balance == 1000


def test_a_held_member_cannot_transfer_to_another_member():
    member = held_member()
    other = UserFactory()
    with pytest.raises(AccountOnHold):
        post(acct(member), acct(other), kind=TransferKind.BOUNTY)
    assert balance_for_user(user_id=other.pk).balance == 0


def test_a_held_member_cannot_reserve_funds():
    member = held_member()
    with pytest.raises(AccountOnHold):
        services.hold_place(account=acct(member), amount=100, kind=TransferKind.DOWNLOAD, idempotency_key="h")
    assert balance_for_user(user_id=member.pk).held == 0


def test_a_payout_the_held_member_funded_waits():
    # A bounty posted before the hold: escrow pays the winner only once the offerer is cleared.
    offerer = UserFactory()
    fund(offerer, "10.00", key="fund-offerer")
    escrowed = post(acct(offerer), system(SystemAccount.ESCROW), kind=TransferKind.ESCROW, key="escrow")
    services.member_hold(user_id=offerer.pk, reason="Farming ring", staff_id=reviewer().pk)
    winner = UserFactory()
    with pytest.raises(AccountOnHold):
        post(system(SystemAccount.ESCROW), acct(winner), kind=TransferKind.BOUNTY, key="payout", payer=acct(offerer))
    # Returning the escrow to the offerer is an incoming credit: it still posts.
    post(system(SystemAccount.ESCROW), acct(offerer), kind=TransferKind.REFUND, key="back", reverses=escrowed)
    assert balance_for_user(user_id=offerer.pk).balance == 1000


def test_a_refund_of_the_held_members_purchase_waits():
    member = UserFactory()
    purchase = fund(member, "10.00", key="purchase")
    services.member_hold(user_id=member.pk, reason="Chargeback pattern", staff_id=reviewer().pk)
    with pytest.raises(AccountOnHold):
        services.transfer_reverse(transfer=purchase)
    assert balance_for_user(user_id=member.pk).balance == 1000


def test_a_reservation_from_before_the_hold_is_captured_by_the_site_but_never_paid_to_a_member():
    member = UserFactory()
    fund(member, "10.00", key="fund")
    first = services.hold_place(account=acct(member), amount=300, kind=TransferKind.DOWNLOAD, idempotency_key="h1")
    second = services.hold_place(account=acct(member), amount=200, kind=TransferKind.BOUNTY, idempotency_key="h2")
    services.member_hold(user_id=member.pk, reason="Velocity", staff_id=reviewer().pk)
    with pytest.raises(AccountOnHold):
        services.hold_capture(hold_id=second.pk, amount=200, to_account=acct(UserFactory()))
    services.hold_capture(hold_id=first.pk, amount=300, to_account=system())
    services.hold_release(hold_id=second.pk)
    second.refresh_from_db()
    assert second.status == HoldStatus.RELEASED
    balance = balance_for_user(user_id=member.pk)
    assert (balance.balance, balance.held) == (700, 0)


# --- what a hold lets through --------------------------------------------------------------------


def test_purchases_and_other_credits_still_reach_a_held_member():
    member = held_member()
    fund(member, "5.00", key="late-purchase")  # the one-statement credit path
    post(system(SystemAccount.REWARDS_POOL), acct(member), kind=TransferKind.EARN, key="earn")
    assert balance_for_user(user_id=member.pk).balance == 1000 + 500 + 100


def test_staff_corrections_expiries_and_claw_backs_still_post_on_a_held_member():
    member = held_member()
    award = post(system(SystemAccount.REWARDS_POOL), acct(member), kind=TransferKind.EARN, key="award", amount=200)
    services.transfer_reverse(transfer=award)  # a clawed-back award
    post(acct(member), system(SystemAccount.ISSUANCE), kind=TransferKind.ADJUSTMENT, key="adjust", amount=50)
    assert balance_for_user(user_id=member.pk).balance == 1000 - 50


def test_a_retry_of_a_spend_made_before_the_hold_returns_it():
    member = UserFactory()
    fund(member, "10.00", key="fund")
    before = post(acct(member), system(), key="spent-before")
    services.member_hold(user_id=member.pk, reason="Velocity", staff_id=reviewer().pk)
    assert post(acct(member), system(), key="spent-before").pk == before.pk


def test_a_new_currency_account_of_a_held_member_starts_frozen():
    member = held_member()
    Currency.objects.create(code="PTS", name="Points", decimal_places=0)
    assert services.user_account(user_id=member.pk, currency="PTS").frozen
    assert not services.user_account(user_id=UserFactory().pk, currency="PTS").frozen


# --- clearing and the audit trail ------------------------------------------------------------------


def test_clearing_restores_spending_and_the_history_keeps_who_and_why():
    staff = reviewer()
    member = UserFactory()
    fund(member, "10.00", key="fund")
    services.member_hold(user_id=member.pk, reason="Shared IP", staff_id=staff.pk, signal="shared_ip:10.0.0.1")
    assert member_on_hold(user_id=member.pk)
    services.member_clear(user_id=member.pk, reason="Family members, verified", staff_id=staff.pk)
    assert not member_on_hold(user_id=member.pk)
    post(acct(member), system(), key="after-clear")
    history = list(member_hold_history(user_id=member.pk))
    assert [(h.action, h.reason, h.created_by_id) for h in history] == [
        ("clear", "Family members, verified", staff.pk),
        ("hold", "Shared IP", staff.pk),
    ]
    assert history[1].signal == "shared_ip:10.0.0.1"
    with pytest.raises(LedgerImmutable):
        history[0].save()
    with pytest.raises(LedgerImmutable):
        history[0].delete()


def test_a_decision_needs_a_reason_the_permission_and_a_change():
    staff, member = reviewer(), UserFactory()
    with pytest.raises(MemberHoldError):
        services.member_hold(user_id=member.pk, reason="  ", staff_id=staff.pk)
    with pytest.raises(MemberHoldError) as refused:
        services.member_hold(user_id=member.pk, reason="why", staff_id=UserFactory(is_staff=True).pk)
    assert refused.value.status == 403
    with pytest.raises(MemberHoldError):
        services.member_clear(user_id=member.pk, reason="not held", staff_id=staff.pk)
    with pytest.raises(MemberHoldError):
        services.member_hold(user_id=staff.pk, reason="self", staff_id=staff.pk)
    services.member_hold(user_id=member.pk, reason="once", staff_id=staff.pk)
    with pytest.raises(MemberHoldError):
        services.member_hold(user_id=member.pk, reason="twice", staff_id=staff.pk)
    assert MemberHold.objects.filter(user=member).count() == 1
    # A member with no wallet yet gets one, frozen.
    assert Account.objects.get(user=member).frozen


def test_a_held_member_with_expiring_credits_still_loses_them_on_time():
    member = held_member()
    post(
        system(SystemAccount.PROMOTIONS),
        acct(member),
        kind=TransferKind.BONUS,
        key="welcome",
        credit_source="welcome",
    )
    assert services.credits_expire(now=timezone.now() + timedelta(days=91)) == 1  # welcome: 90 days
    assert balance_for_user(user_id=member.pk).balance == 1000
