import re

import pytest

from tests.browser.conftest import sign_in
from tests.factories import DEFAULT_PIN, UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def _demo_site(settings):
    settings.DEBUG = True  # the demo method exists only on a DEBUG site without provider keys


def test_buy_a_package_with_the_demo_method_and_see_the_balance_change(page, shot):
    from django.core.management import call_command

    call_command("seed_demo")
    user = UserFactory()
    sign_in(page, user.email, DEFAULT_PIN)
    page.goto("/recharge/")
    assert page.get_by_text("MOST POPULAR").is_visible()
    shot(page, "payments-recharge")
    page.set_viewport_size({"width": 390, "height": 844})
    shot(page, "payments-recharge-mobile")
    page.set_viewport_size({"width": 1280, "height": 900})
    assert page.locator("#header-balance").inner_text() == "0.00"
    page.check("input[name=method][value=demo]")
    page.get_by_role("button", name="Buy Popular Pack").click()
    page.wait_for_url(re.compile(r"/payments/\d+/$"))
    assert page.get_by_text("Demo payment — no real money").is_visible()
    shot(page, "payments-checkout-demo")
    page.set_viewport_size({"width": 390, "height": 844})
    shot(page, "payments-checkout-demo-mobile")
    page.set_viewport_size({"width": 1280, "height": 900})
    page.get_by_role("button", name="Simulate the payment (demo)").click()
    page.get_by_test_id("payment-success").wait_for()
    assert page.get_by_test_id("new-balance").inner_text() == "75.00"
    assert page.locator("#header-balance").inner_text() == "75.00"
    shot(page, "payments-success")


def test_wallet_connect_page_renders_on_mobile(page, shot):
    user = UserFactory()
    sign_in(page, user.email, DEFAULT_PIN)
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto("/wallet/connect/")
    page.get_by_text("Sign by hand (any wallet)").click()
    page.get_by_role("button", name="1. Get a message to sign").click()
    assert page.get_by_text("Nonce:").count() == 0 or page.locator("#challenge-text").input_value().count("Nonce:") == 1
    shot(page, "payments-wallet-connect-mobile")
