"""The ledger admin: read-only ledger rows, searchable by member, kind and date."""

from zoneinfo import ZoneInfo

import pytest
from django.conf import settings
from django.urls import reverse
from django.utils import timezone

from tests.factories import UserFactory, fund, staff
from wallet import services
from wallet.models import AdjustmentRequest, SystemAccount, TransferKind

pytestmark = pytest.mark.django_db


@pytest.fixture
def ledger():
    alice, bob = UserFactory(email="alice@example.com"), UserFactory(email="bob@example.com")
    fund(alice, "10.00")
    fund(bob, "20.00")
    revenue = services.system_account(name=SystemAccount.REVENUE)
    redeem = services.transfer_post(
        from_account=services.user_account(user_id=alice.pk),
        to_account=revenue,
        amount=250,
        kind=TransferKind.REDEEM,
        idempotency_key="alice-redeem",
        memo="Sticker pack",
    )
    services.hold_place(
        account=services.user_account(user_id=bob.pk), amount=300, kind=TransferKind.DOWNLOAD, idempotency_key="bob-h"
    )
    return {"alice": alice, "bob": bob, "redeem": redeem}


@pytest.fixture
def admin_client(client):
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    return client


def rows(response) -> int:
    return len(response.context["cl"].result_list)


def test_transfers_searchable_by_member_kind_and_date(admin_client, ledger):
    url = reverse("admin:wallet_transfer_changelist")
    assert rows(admin_client.get(url)) == 3
    assert rows(admin_client.get(url, {"q": "alice@example"})) == 2
    assert rows(admin_client.get(url, {"q": "redeem"})) == 1
    assert rows(admin_client.get(url, {"kind__exact": "purchase"})) == 2
    # The admin filters dates in the staff member's time zone (the site's, accounts.middleware),
    # which is already tomorrow for part of every UTC day.
    today = timezone.localtime(timezone=ZoneInfo(settings.GOLDBOOK_DEFAULT_TIME_ZONE))
    by_day = {"created_at__year": today.year, "created_at__month": today.month, "created_at__day": today.day}
    assert rows(admin_client.get(url, by_day)) == 3
    assert rows(admin_client.get(url, {"created_at__year": today.year - 1})) == 0


def test_entries_searchable_by_member_and_kind(admin_client, ledger):
    url = reverse("admin:wallet_entry_changelist")
    assert rows(admin_client.get(url)) == 6
    assert rows(admin_client.get(url, {"q": "bob@example.com"})) == 1
    assert rows(admin_client.get(url, {"transfer__kind__exact": "redeem"})) == 2
    assert rows(admin_client.get(url, {"q": "redeem"})) == 2


def test_ledger_rows_are_read_only_in_the_admin(admin_client, ledger):
    transfer = ledger["redeem"]
    change = admin_client.get(reverse("admin:wallet_transfer_change", args=[transfer.pk]))
    assert change.status_code == 200
    assert b'name="_save"' not in change.content
    assert b"Sticker pack" in change.content
    assert admin_client.post(reverse("admin:wallet_transfer_delete", args=[transfer.pk])).status_code == 403
    assert admin_client.get(reverse("admin:wallet_transfer_add")).status_code == 403
    account = services.user_account(user_id=ledger["alice"].pk)
    assert (
        admin_client.post(reverse("admin:wallet_account_change", args=[account.pk]), {"balance": 10**9}).status_code
        == 403
    )
    account.refresh_from_db()
    assert account.balance == 750


def test_holds_and_adjustments_changelists(admin_client, ledger):
    holds = admin_client.get(reverse("admin:wallet_hold_changelist"), {"q": "bob"})
    assert rows(holds) == 1
    assert rows(admin_client.get(reverse("admin:wallet_hold_changelist"), {"status__exact": "captured"})) == 0
    maker = staff("wallet.request_adjustment")
    services.adjustment_request(
        account=services.user_account(user_id=ledger["bob"].pk), amount=500, reason="Goodwill", requested_by_id=maker.pk
    )
    adjustments = admin_client.get(reverse("admin:wallet_adjustmentrequest_changelist"), {"q": "bob"})
    assert rows(adjustments) == 1
    assert "Approve and post selected adjustments" in adjustments.content.decode()


@pytest.mark.parametrize("model", ["transfer", "entry", "hold", "adjustmentrequest", "account"])
def test_changelists_do_not_query_per_row(admin_client, ledger, model, django_assert_max_num_queries):
    maker = staff("wallet.request_adjustment")
    for i in range(15):
        user = UserFactory()
        fund(user, "5.00")
        account = services.user_account(user_id=user.pk)
        services.hold_place(account=account, amount=100, kind=TransferKind.DOWNLOAD, idempotency_key=f"n{i}")
        services.adjustment_request(account=account, amount=100, reason="x", requested_by_id=maker.pk)
    with django_assert_max_num_queries(12):
        assert admin_client.get(reverse(f"admin:wallet_{model}_changelist")).status_code == 200


def test_system_accounts_show_their_balance_from_their_entries(admin_client, ledger):
    # Alice and Bob were funded 10.00 + 20.00 from issuance; Alice paid 2.50 to revenue.
    page = admin_client.get(reverse("admin:wallet_account_changelist"))
    shown = {row.system_name or row.user.email: row.shown_balance for row in page.context["cl"].result_list}
    assert shown == {"issuance": -3000, "revenue": 250, "alice@example.com": 750, "bob@example.com": 2000}
    html = page.content.decode()
    assert "(sum of entries)" not in html
    assert "-30.00" in html and "2.50" in html
    by_balance = admin_client.get(reverse("admin:wallet_account_changelist"), {"o": "3"})  # the balance column
    assert [r.shown_balance for r in by_balance.context["cl"].result_list] == [-3000, 250, 750, 2000]
    revenue = services.system_account(name=SystemAccount.REVENUE)
    detail = admin_client.get(reverse("admin:wallet_account_change", args=[revenue.pk])).content.decode()
    assert "2.50" in detail


def test_ledger_pages_show_amounts_in_credits(admin_client, ledger):
    transfer = ledger["redeem"]
    page = admin_client.get(reverse("admin:wallet_transfer_change", args=[transfer.pk])).content.decode()
    assert "2.50" in page and "+2.50" in page and "-2.50" in page  # the transfer and its two entries
    assert ">250<" not in page


@pytest.mark.parametrize(
    ("typed", "error"),
    [("0", "other than zero"), ("1.505", "at most 2 decimal places"), ("150 credits", "Enter an amount")],
)
def test_adjustment_amounts_are_credits(admin_client, ledger, typed, error):
    account = services.user_account(user_id=ledger["bob"].pk)
    url = reverse("admin:wallet_adjustmentrequest_add")
    response = admin_client.post(url, {"account": account.pk, "amount": typed, "reason": "x"})
    assert response.status_code == 200
    assert error in response.content.decode()
    assert 'name="amount"' in response.content.decode()


def test_an_adjustment_is_previewed_in_credits_before_it_is_requested(admin_client, ledger):
    account = services.user_account(user_id=ledger["bob"].pk)  # 20.00, 3.00 of it held
    url = reverse("admin:wallet_adjustmentrequest_add")
    page = admin_client.post(url, {"account": account.pk, "amount": "-18", "reason": "x", "_preview": "Preview"})
    text = page.content.decode()
    assert "Requests -18.00 Credits for bob@example.com: their balance goes from 20.00 Credits to 2.00 Credits" in text
    assert "Only 17.00 Credits is available now" in text
    assert not AdjustmentRequest.objects.exists()
