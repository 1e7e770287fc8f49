"""Recharge, checkout and wallet pages; demo method; dashboard panels; demo data."""

from io import StringIO

import pytest
from django.core.management import call_command
from django.test import RequestFactory

from payments import dashboard, services
from payments.models import CreditPackage, Payment, PaymentStatus
from tests.factories import UserFactory, credit_package
from wallet.selectors import balance_for_user

from .conftest import make_payment

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _debug_site(settings):
    # The test runner turns DEBUG off; the demo method belongs to a DEBUG site without keys.
    settings.DEBUG = True


def test_recharge_page_shows_the_seed_cards_and_coin_packs(client):
    call_command("seed_demo", stdout=StringIO())
    html = client.get("/recharge/").content.decode()
    for text in (
        "Free tier",
        "Starter Pack",
        "Popular Pack",
        "MOST POPULAR",
        "Premium Pack",
        "BEST VALUE",
        "40 Credits in total",
        "about 571 song downloads",
        "22 Credits",
        "52 Credits",
        "200 Credits",
        "500 Credits",
        "US$50.00",
        "Custom amount",
        "USDT on Tron (TRC20)",
    ):
        assert text in html, text
    assert "Demo payment" in html  # DEBUG site without keys
    assert "≈" not in html  # an English visitor: dollars only
    member = UserFactory(display_name="Yuan", display_currency="CNY")
    client.force_login(member)
    html = client.get("/recharge/").content.decode()
    assert "US$50.00" in html and "≈ ¥360.00, rate of" in html  # the seeded demo rate, 7.20


def test_seed_demo_is_idempotent():
    call_command("seed_demo", stdout=StringIO())
    count = CreditPackage.objects.count()
    call_command("seed_demo", stdout=StringIO())
    assert CreditPackage.objects.count() == count == 7


def test_demo_method_buys_a_package_and_shows_the_new_balance(client):
    user = UserFactory()
    client.force_login(user)
    resp = client.post("/recharge/checkout/", {"method": "demo", "package_id": credit_package().pk})
    payment = Payment.objects.get()
    assert resp.status_code == 302 and resp["Location"] == f"/payments/{payment.pk}/"
    page = client.get(resp["Location"]).content.decode()
    assert "Demo payment — no real money" in page and "qr.svg" in page
    client.post(f"/payments/{payment.pk}/demo-pay/")
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.COMPLETED
    done = client.get(f"/payments/{payment.pk}/").content.decode()
    assert "75 Credits added" in done and "75.00" in done and f"/payments/{payment.pk}/receipt/" in done
    assert balance_for_user(user_id=user.pk).balance == 7500


def test_demo_method_is_refused_when_switched_off_or_keys_exist(client, settings):
    user = UserFactory()
    client.force_login(user)
    settings.PAYMENTS_DEMO_METHOD = False
    assert not services.demo_enabled()
    client.post("/recharge/checkout/", {"method": "demo", "package_id": credit_package().pk})
    assert not Payment.objects.exists()
    settings.PAYMENTS_DEMO_METHOD = True
    settings.COINPAYMENTS_PUBLIC_KEY = "configured"
    assert not services.demo_enabled()


def test_production_settings_never_offer_the_demo_method(monkeypatch):
    """Whatever the environment says: a production site never credits for no money."""
    import importlib
    import sys

    monkeypatch.setenv("PAYMENTS_DEMO_METHOD", "true")
    monkeypatch.setenv("SECRET_KEY", "x" * 60)
    monkeypatch.setenv("DATABASE_URL", "postgres://check@127.0.0.1/check")
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:6379/0")
    for name in ("config.settings_production", "config.settings"):
        sys.modules.pop(name, None)
    try:
        production = importlib.import_module("config.settings_production")
        assert production.PAYMENTS_DEMO_METHOD is False and production.DEBUG is False
    finally:
        for name in ("config.settings_production", "config.settings"):
            sys.modules.pop(name, None)
        importlib.import_module("config.settings")


def test_checkout_page_status_json_and_qr_are_owner_only(client, cp_settings, rsps):
    payment = make_payment(rsps)
    client.force_login(payment.user)
    page = client.get(f"/payments/{payment.pk}/").content.decode()
    assert payment.address in page and payment.coin_amount in page and 'http-equiv="refresh"' in page
    assert client.get(f"/payments/{payment.pk}/status.json").json()["status"] == "pending"
    qr = client.get(f"/payments/{payment.pk}/qr.svg")
    assert qr.status_code == 200 and qr["Content-Type"] == "image/svg+xml" and b"<svg" in qr.content
    client.force_login(UserFactory())
    assert client.get(f"/payments/{payment.pk}/").status_code == 404
    assert client.get(f"/payments/{payment.pk}/status.json").status_code == 404


def test_expired_and_underpaid_pages_say_what_to_do(client, cp_settings, rsps):
    payment = make_payment(rsps)
    client.force_login(payment.user)
    Payment.objects.filter(pk=payment.pk).update(status=PaymentStatus.EXPIRED)
    assert "late payments are still credited" in client.get(f"/payments/{payment.pk}/").content.decode()
    Payment.objects.filter(pk=payment.pk).update(status=PaymentStatus.UNDERPAID, received_amount="10")
    assert "Contact support" in client.get(f"/payments/{payment.pk}/").content.decode()


def test_recharge_form_errors_are_shown(client):
    client.force_login(UserFactory())
    resp = client.post("/recharge/checkout/", {"method": "demo", "custom_amount": "2"}, follow=True)
    assert "Custom amounts run from $5.00" in resp.content.decode()


def test_dashboard_panels_are_keyed_for_the_accounts_app(client, cp_settings, rsps):
    payment = make_payment(rsps)
    request = RequestFactory().get("/dashboard/")
    request.user = payment.user
    panels = dashboard.panels(request)
    assert [p.key for p in panels] == ["e9th_wallet", "payments"]
    from django.template.loader import render_to_string

    html = render_to_string(panels[1].template, panels[1].context, request=request)
    assert "Popular Pack" in html
    html = render_to_string(panels[0].template, panels[0].context, request=request)
    assert "Connect wallet" in html


def test_wallet_connect_page_issues_a_challenge(client):
    client.force_login(UserFactory())
    page = client.post("/wallet/connect/", {"action": "challenge"}).content.decode()
    assert "Nonce:" in page and "Paste the signature" in page
