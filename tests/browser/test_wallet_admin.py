import pytest

from tests.factories import DEFAULT_PIN, UserFactory, fund, staff
from wallet import services
from wallet.models import SystemAccount, TransferKind

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_ledger_admin_changelists(page, shot):
    alice, bob = UserFactory(email="alice@example.com"), UserFactory(email="bob@example.com")
    fund(alice, "40.00")
    original = fund(bob, "25.00")
    fund(bob, "10.00")
    revenue = services.system_account(name=SystemAccount.REVENUE)
    acc_a, acc_b = services.user_account(user_id=alice.pk), services.user_account(user_id=bob.pk)
    services.transfer_post(
        from_account=acc_a, to_account=revenue, amount=1250, kind=TransferKind.REDEEM, idempotency_key="r", memo="Mug"
    )
    hold = services.hold_place(account=acc_a, amount=500, kind=TransferKind.DOWNLOAD, idempotency_key="h1", memo="EA")
    services.hold_capture(hold_id=hold.pk, amount=300, to_account=revenue)
    services.transfer_reverse(transfer=original)
    services.hold_place(account=acc_b, amount=700, kind=TransferKind.DOWNLOAD, idempotency_key="h2", memo="Song pack")
    maker = staff("wallet.request_adjustment", email="maker@example.com")
    services.adjustment_request(
        account=acc_a, amount=1500, reason="Goodwill: failed download", requested_by_id=maker.pk
    )
    services.adjustment_request(account=acc_a, amount=-200, reason="Duplicate bonus", requested_by_id=maker.pk)
    UserFactory(email="checker@example.com", is_staff=True, is_superuser=True)

    page.goto("/admin/login/")
    page.fill("input[name=username]", "checker@example.com")
    page.fill("input[name=password]", DEFAULT_PIN)
    page.click("input[type=submit]")

    page.goto("/admin/wallet/transfer/?q=alice%40example.com")
    assert page.locator("#result_list tbody tr").count() == 3
    shot(page, "admin-transfers-search")
    page.goto("/admin/wallet/entry/?transfer__kind__exact=purchase")
    assert page.locator("#result_list tbody tr").count() == 6
    shot(page, "admin-entries-kind")
    page.goto("/admin/wallet/hold/")
    assert page.locator("#result_list tbody tr").count() == 2
    shot(page, "admin-holds")
    page.goto("/admin/wallet/adjustmentrequest/")
    page.locator("input[name=_selected_action]").first.check()
    page.select_option("select[name=action]", "approve")
    page.click("button[name=index]")
    assert page.locator("li.success").inner_text().endswith("approved and posted.")
    shot(page, "admin-adjustments-approved")
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto("/admin/wallet/transfer/")
    shot(page, "admin-transfers-mobile")
