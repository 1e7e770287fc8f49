"""Credit categories: every credit lands in paid, bonus, earned or granted; spending draws in the
configured order; promotional credits expire through the ledger; reversals and refunds respect
the categories; audit_ledger checks them; existing balances are categorised once."""

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from core.models import OutboxEvent
from tests.factories import UserFactory, fund
from wallet import services
from wallet.audit import run_audit
from wallet.errors import InsufficientFunds
from wallet.lots import CreditCategory, CreditLot, LotEntry
from wallet.models import SystemAccount, Transfer, TransferKind
from wallet.selectors import credit_split

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _expiry(settings):
    settings.GOLDBOOK_CREDIT_EXPIRY_DAYS = {"welcome": 90, "earn": 30}


def credit(user, amount: int, *, kind=TransferKind.BONUS, source=None, key=None, system=SystemAccount.PROMOTIONS):
    return services.transfer_post(
        from_account=services.system_account(name=system),
        to_account=services.user_account(user_id=user.pk),
        amount=amount,
        kind=kind,
        idempotency_key=key or f"credit:{user.pk}:{Transfer.objects.count()}",
        credit_source=source,
    )


def spend(user, amount: int, key: str) -> Transfer:
    return services.transfer_post(
        from_account=services.user_account(user_id=user.pk),
        to_account=services.system_account(name=SystemAccount.REVENUE),
        amount=amount,
        kind=TransferKind.DOWNLOAD,
        idempotency_key=key,
    )


def split(user):
    return credit_split(account_id=services.user_account(user_id=user.pk).pk)


def assert_audit_clean() -> None:
    result = run_audit()
    assert result.problem_count == 0, [p for c in result.checks for p in c.problems]


def test_each_source_lands_in_its_category():
    user = UserFactory()
    fund(user, "10.00")
    credit(user, 200)  # package bonus
    credit(user, 300, source="welcome")
    credit(user, 50, kind=TransferKind.EARN, system=SystemAccount.REWARDS_POOL)
    s = split(user)
    assert (s.paid, s.bonus, s.granted, s.earned) == (1000, 200, 300, 50)
    assert s.promotional == 550
    welcome = CreditLot.objects.get(category=CreditCategory.GRANTED)
    assert welcome.expires_at is not None and welcome.expires_at > timezone.now() + timedelta(days=89)
    assert_audit_clean()


def test_spending_draws_soonest_expiring_first_and_paid_last():
    user = UserFactory()
    fund(user, "10.00")
    credit(user, 200)  # bonus, never expires
    credit(user, 300, source="welcome")  # granted, 90 days
    credit(user, 50, kind=TransferKind.EARN, system=SystemAccount.REWARDS_POOL)  # earned, 30 days
    spend(user, 400, "s1")  # 50 earned (30 d), 300 granted (90 d), then 50 of the bonus
    s = split(user)
    assert (s.earned, s.granted, s.bonus, s.paid) == (0, 0, 150, 1000)
    spend(user, 300, "s2")  # the rest of the bonus, then paid
    s = split(user)
    assert (s.bonus, s.paid) == (0, 850)
    assert_audit_clean()


def test_spend_order_is_configurable(settings):
    settings.GOLDBOOK_CREDIT_SPEND_ORDER = ("paid", "granted", "bonus", "earned")
    settings.GOLDBOOK_CREDIT_EXPIRY_DAYS = {}
    user = UserFactory()
    fund(user, "1.00")
    credit(user, 100)
    spend(user, 60, "s")
    s = split(user)
    assert (s.paid, s.bonus) == (40, 100)


def test_a_refunded_spend_goes_back_to_the_lots_it_came_from():
    user = UserFactory()
    fund(user, "1.00")
    credit(user, 100)
    spent = spend(user, 150, "s")  # 100 bonus + 50 paid
    services.transfer_reverse(transfer=spent)
    s = split(user)
    assert (s.paid, s.bonus) == (100, 100)
    assert_audit_clean()


def test_reversing_a_credit_takes_back_from_its_own_category_only():
    user = UserFactory()
    purchase = fund(user, "1.00")
    credit(user, 500)
    spend(user, 560, "s")  # all the bonus, then 60 paid: 40 paid left, plenty... no: 40 in total
    credit(user, 1000, kind=TransferKind.EARN, system=SystemAccount.REWARDS_POOL)
    with pytest.raises(InsufficientFunds):
        services.transfer_reverse(transfer=purchase)  # 1040 available, but only 40 paid
    assert split(user).paid == 40
    assert not Transfer.objects.filter(reverses=purchase).exists()
    assert_audit_clean()


def test_expiry_is_a_transfer_announced_beforehand_and_runs_once():
    user = UserFactory()
    fund(user, "1.00")
    grant = credit(user, 300, source="welcome")
    lot = CreditLot.objects.get(source_transfer=grant)
    assert lot.expires_at is not None
    assert services.credits_announce_expiring(now=lot.expires_at - timedelta(days=30)) == 0  # not yet
    assert services.credits_announce_expiring(now=lot.expires_at - timedelta(days=3)) == 1
    assert services.credits_announce_expiring(now=lot.expires_at - timedelta(days=2)) == 0  # once
    event = OutboxEvent.objects.get(name="wallet.credits_expiring")
    assert event.payload["amount"] == 300 and event.payload["user_id"] == user.pk
    spend(user, 100, "s")  # from the welcome lot first
    assert services.credits_expire(now=lot.expires_at - timedelta(seconds=1)) == 0
    assert services.credits_expire(now=lot.expires_at) == 1
    assert services.credits_expire(now=lot.expires_at) == 0
    expiry = Transfer.objects.get(kind=TransferKind.EXPIRY)
    assert expiry.amount == 200 and expiry.credit_account.system_name == SystemAccount.PROMOTIONS
    s = split(user)
    assert (s.granted, s.paid) == (0, 100)
    assert services.user_account(user_id=user.pk).balance == 100
    assert_audit_clean()


def test_expiry_leaves_what_a_pending_hold_needs_until_the_hold_is_resolved():
    user = UserFactory()
    grant = credit(user, 300, source="welcome")
    account = services.user_account(user_id=user.pk)
    hold = services.hold_place(account=account, amount=250, kind=TransferKind.DOWNLOAD, idempotency_key="h")
    lot = CreditLot.objects.get(source_transfer=grant)
    assert services.credits_expire(now=lot.expires_at) == 1
    assert Transfer.objects.get(kind=TransferKind.EXPIRY).amount == 50
    services.hold_release(hold_id=hold.pk)
    assert services.credits_expire(now=lot.expires_at) == 1
    assert services.user_account(user_id=user.pk).balance == 0
    assert_audit_clean()


def test_the_expiry_command(settings):
    user = UserFactory()
    grant = credit(user, 300, source="welcome")
    CreditLot.objects.filter(source_transfer=grant).update(expires_at=timezone.now() - timedelta(minutes=1))
    out = StringIO()
    call_command("expire_credits", stdout=out)
    assert "expired 1 lot(s)" in out.getvalue()
    assert services.user_account(user_id=user.pk).balance == 0


def test_audit_reports_categories_that_do_not_sum_to_the_balance():
    user = UserFactory()
    fund(user, "1.00")
    credit(user, 100)
    assert_audit_clean()
    CreditLot.objects.filter(category=CreditCategory.BONUS).update(remaining=90)  # crafted damage
    result = run_audit()
    problems = {c.name: c.problems for c in result.checks if c.problems}
    assert any("categories sum to 190" in p for p in problems["credit categories"])
    assert any("10 left" not in p and "90 left" in p for p in problems["credit lots"])


def _forget_categories() -> None:
    """Back to before the categories existed (the lot tables are append-only on PostgreSQL)."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET LOCAL session_replication_role = replica")
        cursor.execute("DELETE FROM wallet_lotentry")
        cursor.execute("DELETE FROM wallet_creditlot")
        if connection.vendor == "postgresql":
            cursor.execute("SET LOCAL session_replication_role = DEFAULT")


def test_existing_balances_are_categorised_once_after_a_dry_run():
    buyer, earner = UserFactory(), UserFactory()
    fund(buyer, "10.00")
    credit(buyer, 200)
    spend(buyer, 500, "b")  # taken to have been promotional first: 200 bonus, 300 paid
    credit(earner, 70, kind=TransferKind.EARN, system=SystemAccount.REWARDS_POOL)
    _forget_categories()
    out = StringIO()
    call_command("credit_categories", "--dry-run", stdout=out)
    assert "Would categorise 2 account(s)" in out.getvalue()
    assert "paid" in out.getvalue() and "7.00" in out.getvalue() and "0.70" in out.getvalue()
    assert not CreditLot.objects.exists()
    call_command("credit_categories", stdout=StringIO())
    assert (split(buyer).paid, split(buyer).bonus) == (700, 0)
    assert split(earner).earned == 70
    assert LotEntry.objects.filter(transfer__isnull=True).count() == 2
    assert services.credits_categorise_existing(dry_run=False).accounts == 0  # once
    spend(buyer, 100, "after")
    assert_audit_clean()
