"""Issue 12, done when: a zh-hans browser goes through buy → download → redeem in Chinese, with
yuan beside dollar amounts and times in Beijing time, and every spend asks before it charges."""

import re
from datetime import date
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from payments.models import ExchangeRate, Payment
from tests.browser.conftest import signed_in_context
from tests.factories import RewardFactory, UserFactory, credit_package, make_songs
from wallet.selectors import balance_for_user

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

HAN = re.compile(r"[\u4e00-\u9fff]")
# English words a Chinese page must not show (the brand and coin tickers are the same in both).
ENGLISH = re.compile(r"\b(Buy|Download|Redeem|Balance|Spend|Credits|Confirm|Cancel|Receipt|Sign out)\b")


def reads_chinese(page) -> str:
    text = page.locator("main").inner_text()
    assert HAN.search(page.locator("h1").first.inner_text()), page.url
    assert not ENGLISH.search(text), (page.url, ENGLISH.findall(text))
    return text


def test_a_chinese_browser_buys_downloads_and_redeems_in_chinese(browser, live_server, shot, settings):
    settings.DEBUG = True  # the demo payment method exists only on a DEBUG site without provider keys
    user = UserFactory(display_currency="CNY")  # time zone left blank: the site's Asia/Shanghai
    ExchangeRate.objects.create(currency="CNY", rate=Decimal("7.2000"), effective_date=date(2026, 12, 1))
    song = make_songs(1, prefix="夜曲")[0]
    RewardFactory(name="高级 EA 权限", slug="premium", price=2000)
    page = signed_in_context(browser, live_server, user, "zh").new_page()

    # Buy: prices in dollars with their yuan equivalent, the checkout and the receipt in Chinese.
    page.goto("/recharge/")
    text = reads_chinese(page)
    assert "¥" in text and "US$" in text
    popular = credit_package("Popular Pack")
    page.check("input[name=method][value=demo]")
    page.locator(f"button[name=package_id][value='{popular.pk}']").first.click()
    page.wait_for_url(re.compile(r"/payments/\d+/$"))
    reads_chinese(page)
    shot(page, "journey-zh-checkout")
    page.locator("form[action$='/demo/'] button, form[action*='demo'] button").first.click()
    page.get_by_test_id("payment-success").wait_for()
    assert page.get_by_test_id("new-balance").inner_text() == "75.00"
    page.get_by_test_id("receipt-link").click()
    receipt = reads_chinese(page)
    assert "¥360.00" in page.get_by_test_id("receipt-amount").inner_text()
    paid_at = Payment.objects.get(user=user).created_at.astimezone(ZoneInfo("Asia/Shanghai"))
    shown = page.get_by_test_id("receipt-date").inner_text()
    assert f"{paid_at.hour}:{paid_at.minute:02d}" in shown and "CST" in shown, shown  # Beijing time
    assert "75" in receipt
    shot(page, "journey-zh-receipt")

    # Download: the question first (nothing charged), then the file and the charge.
    page.goto("/downloads/")
    reads_chinese(page)
    page.locator(f'tr[data-item="{song.pk}"] td.dl-actions a').click()
    page.get_by_test_id("spend-confirm").wait_for()
    reads_chinese(page)
    assert balance_for_user(user_id=user.pk).balance == 7500
    shot(page, "journey-zh-download-confirm")
    with page.expect_download():
        page.get_by_test_id("confirm-spend").click()
    assert balance_for_user(user_id=user.pk).balance == 7465

    # Redeem: the store asks before it charges, in Chinese, then the header balance follows.
    page.goto("/rewards/")
    reads_chinese(page)
    page.get_by_test_id("reward-premium").get_by_role("link").first.click()
    page.get_by_test_id("confirm-redeem").or_(page.get_by_test_id("confirm-spend")).first.wait_for()
    assert balance_for_user(user_id=user.pk).balance == 7465
    shot(page, "journey-zh-redeem-confirm")
    page.get_by_test_id("confirm-redeem").or_(page.get_by_test_id("confirm-spend")).first.click()
    page.wait_for_url("**/rewards/")
    assert balance_for_user(user_id=user.pk).balance == 5465
    assert page.locator("#header-balance").inner_text() == "54.65"
    assert HAN.search(page.locator(".messages").inner_text())
    shot(page, "journey-zh-store-after")
