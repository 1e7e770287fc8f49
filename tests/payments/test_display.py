"""Display currency, the checkout's network and wallet link, and the payment receipt."""

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from payments.models import ExchangeRate
from payments.networks import network_of, payment_uri
from tests.factories import UserFactory

from .conftest import make_payment

pytestmark = pytest.mark.django_db


def test_network_names_and_wallet_uris_per_coin_scheme():
    assert network_of("USDT.TRC20").label == "USDT on Tron (TRC20)"
    assert network_of("USDT.ERC20").label == "USDT on Ethereum (ERC20)"
    assert network_of("BTC").label == "BTC (Bitcoin network)"
    assert payment_uri(coin="BTC", address="bc1qxyz", amount="0.00123000") == "bitcoin:bc1qxyz?amount=0.00123"
    assert payment_uri(coin="USDT.ERC20", address="0xabc", amount="50.5") == (
        "ethereum:0xdAC17F958D2ee523a2206206994597C13D831ec7@1/transfer?address=0xabc&uint256=50500000"
    )
    assert payment_uri(coin="ETH", address="0xabc", amount="0.5") == "ethereum:0xabc?value=500000000000000000"
    assert payment_uri(coin="USDT.TRC20", address="TXyz", amount="50") is None  # no agreed Tron scheme
    assert payment_uri(coin="BTC", address="bc1q", amount="NaN") is None
    assert payment_uri(coin="BTC", address="", amount="1") is None


def test_checkout_names_the_network_counts_down_and_says_what_to_do_when_short_or_late(client, rsps, cp_settings):
    user = UserFactory()
    payment = make_payment(rsps, user, coin="USDT.TRC20")
    client.force_login(user)
    html = client.get(f"/payments/{payment.pk}/").content.decode()
    assert "USDT on Tron (TRC20)" in html and "does not arrive and cannot be recovered" in html
    assert 'data-testid="pay-timer"' in html and 'data-remaining="' in html and "aria-valuenow=" in html
    assert 'id="pay-step-waiting"' in html and 'aria-current="step"' in html
    assert "Sent too little, or too late?" in html
    assert 'data-testid="wallet-uri"' not in html  # TRC20: address and amount, no invented URI
    btc = make_payment(rsps, user, txn_id="CPTX2", coin="BTC", amount="0.0012")
    html = client.get(f"/payments/{btc.pk}/").content.decode()
    assert 'href="bitcoin:TXYZdepositAddress123?amount=0.0012"' in html


def test_amounts_show_usd_only_without_a_rate_and_the_equivalent_with_its_date(client, rsps, cp_settings):
    user = UserFactory(display_currency="CNY")
    payment = make_payment(rsps, user)
    client.force_login(user)
    html = client.get(f"/payments/{payment.pk}/").content.decode()
    assert "US$50.00" in html and "≈" not in html  # no rate: no made-up yuan
    ExchangeRate.objects.create(currency="CNY", rate=Decimal("7.1850"), effective_date=date(2026, 1, 5))
    ExchangeRate.objects.create(currency="EUR", rate=Decimal("0.9"), effective_date=date(2026, 1, 5))
    future = timezone.localdate() + timedelta(days=3)
    ExchangeRate.objects.create(currency="CNY", rate=Decimal("9"), effective_date=future)  # not in force yet
    html = client.get(f"/payments/{payment.pk}/").content.decode()
    assert "≈ ¥359.25, rate of Jan. 5, 2026" in html
    user.display_currency = "EUR"
    user.save(update_fields=["display_currency"])
    assert "≈ €45.00, rate of" in client.get(f"/payments/{payment.pk}/").content.decode()


def test_receipt_is_printable_and_only_for_the_owner(client, rsps, cp_settings):
    user = UserFactory(time_zone="Asia/Shanghai")
    payment = make_payment(rsps, user)
    client.force_login(user)
    html = client.get(f"/payments/{payment.pk}/receipt/").content.decode()
    for text in ("Receipt", "US$50.00", "50.12345678 USDT.TRC20", "USDT on Tron (TRC20)", "CPTX1", "Asia/Shanghai"):
        assert text in html, text
    assert "@media print" in html and "CST" in html
    panel = client.get("/dashboard/").content.decode()
    assert f"/payments/{payment.pk}/receipt/" in panel
    client.force_login(UserFactory())
    assert client.get(f"/payments/{payment.pk}/receipt/").status_code == 404
    client.logout()
    assert client.get(f"/payments/{payment.pk}/receipt/").status_code == 302


def test_checkout_and_spend_pages_read_in_chinese(client, rsps, cp_settings, settings):
    settings.LANGUAGE_CODE = "zh-hans"  # what a Chinese browser gets (LocaleMiddleware or not)
    user = UserFactory(display_currency="CNY")
    payment = make_payment(rsps, user)
    ExchangeRate.objects.create(currency="CNY", rate=Decimal("7.2"), effective_date=date(2026, 1, 5))
    client.force_login(user)
    html = client.get(f"/payments/{payment.pk}/").content.decode()
    assert "只能通过 TRC20 网络转入 USDT" in html and "剩余时间" in html and "≈ ¥360.00，按 2026年1月5日 汇率" in html
    assert f"订单 #{payment.pk} 的收据" in client.get(f"/payments/{payment.pk}/receipt/").content.decode()
