"""Issue 12: a spend asks before it charges; the checkout, receipt and confirmation pages in
English and Simplified Chinese at desktop and phone widths (screenshots in test-artifacts)."""

from datetime import date
from decimal import Decimal

import pytest
import responses

from payments.models import ExchangeRate
from tests.browser.conftest import WIDTHS, signed_in_context
from tests.factories import RewardFactory, UserFactory, fund, make_songs
from tests.payments.conftest import API_URL, create_result
from wallet.selectors import balance_for_user

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def both_widths(page, shot, name):
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900 if width > 400 else 844})
        shot(page, f"{name}-{width}")


def test_a_download_asks_first_and_the_balance_is_unchanged_until_confirmed(browser, live_server, shot):
    user = UserFactory()
    fund(user, "1.00")
    song = make_songs(1, prefix="Ask")[0]
    page = signed_in_context(browser, live_server, user).new_page()
    page.goto("/downloads/")
    page.locator(f'tr[data-item="{song.pk}"]').get_by_role("link", name="Download").click()
    assert page.get_by_test_id("spend-cost").inner_text() == "−0.35 Credits"
    assert page.get_by_test_id("spend-after").inner_text() == "0.65 Credits"
    assert balance_for_user(user_id=user.pk).balance == 100  # asked, nothing charged
    page.reload()  # reloading the question charges nothing either
    assert balance_for_user(user_id=user.pk).balance == 100
    with page.expect_download():
        page.get_by_test_id("confirm-spend").click()
    assert balance_for_user(user_id=user.pk).balance == 65


def test_a_short_balance_shows_the_shortfall_and_a_buy_link(browser, live_server, shot):
    user = UserFactory()
    fund(user, "10.00")
    reward = RewardFactory(name="VIP Group Access", price=15000)
    page = signed_in_context(browser, live_server, user).new_page()
    page.goto(f"/rewards/{reward.pk}/redeem/")
    assert "You are 140.00 Credits short" in page.get_by_test_id("shortfall").inner_text()
    page.get_by_test_id("shortfall-buy").click()
    page.wait_for_url("**/recharge/")
    assert balance_for_user(user_id=user.pk).balance == 1000


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_screens_of_checkout_receipt_and_confirmations(browser, live_server, shot, settings, lang):
    # The browser's Accept-Language picks the language once LocaleMiddleware runs; the live server
    # built its middleware before this test, so the site's default language stands in for it.
    settings.LANGUAGE_CODE = "zh-hans" if lang == "zh" else "en"
    settings.COINPAYMENTS_API_URL = API_URL
    settings.COINPAYMENTS_PUBLIC_KEY, settings.COINPAYMENTS_PRIVATE_KEY = "public-key", "private-key"
    settings.COINPAYMENTS_MERCHANT_ID, settings.COINPAYMENTS_IPN_SECRET = "merchant", "secret"
    from payments import services
    from tests.factories import credit_package

    user = UserFactory(display_currency="CNY", time_zone="Asia/Shanghai")
    fund(user, "5.00")
    ExchangeRate.objects.create(currency="CNY", rate=Decimal("7.1850"), effective_date=date(2026, 12, 1))
    with responses.RequestsMock() as mock:
        mock.add(responses.POST, API_URL, json=create_result("CPTXSHOT", "50.00000000"))
        payment = services.coinpayments_checkout(
            user=user, quote=services.quote(package_id=credit_package().pk), coin="USDT.TRC20"
        )
    songs = make_songs(3, prefix="Shot")
    reward = RewardFactory(name="Premium EA Access", price=10000)
    page = signed_in_context(browser, live_server, user, lang).new_page()

    page.goto(f"/payments/{payment.pk}/")
    assert "TRC20" in page.get_by_test_id("pay-network").inner_text()
    assert page.get_by_test_id("fx").first.inner_text().startswith("(≈ ¥")
    both_widths(page, shot, f"spend-checkout-{lang}")
    page.goto(f"/payments/{payment.pk}/receipt/")
    both_widths(page, shot, f"spend-receipt-{lang}")
    page.emulate_media(media="print")
    shot(page, f"spend-receipt-print-{lang}")
    page.emulate_media(media="screen")
    page.goto(f"/downloads/items/{songs[0].pk}/download/")
    both_widths(page, shot, f"spend-download-confirm-{lang}")
    page.goto(f"/rewards/{reward.pk}/redeem/")
    both_widths(page, shot, f"spend-redeem-short-{lang}")
    page.goto("/recharge/")
    both_widths(page, shot, f"spend-recharge-{lang}")
    if lang == "zh":
        page.goto(f"/payments/{payment.pk}/")
        assert "只能通过 TRC20 网络转入 USDT" in page.get_by_test_id("pay-network").inner_text()
