"""Shared set-up for payments tests: CoinPayments settings and a signed-IPN helper."""

from decimal import Decimal
from urllib.parse import urlencode

import pytest
import responses

from payments import services
from payments.providers.coinpayments import sign
from tests.factories import UserFactory, credit_package

API_URL = "https://cp.test/api.php"
IPN_SECRET = "ipn-secret-for-tests"
MERCHANT = "merchant-123"
PRIVATE_KEY = "private-key-for-tests"


@pytest.fixture
def cp_settings(settings):
    settings.COINPAYMENTS_API_URL = API_URL
    settings.COINPAYMENTS_PUBLIC_KEY = "public-key"
    settings.COINPAYMENTS_PRIVATE_KEY = PRIVATE_KEY
    settings.COINPAYMENTS_MERCHANT_ID = MERCHANT
    settings.COINPAYMENTS_IPN_SECRET = IPN_SECRET
    settings.SITE_URL = "https://goldbook.test"
    return settings


@pytest.fixture
def rsps():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


@pytest.fixture(autouse=True)
def _no_backoff(monkeypatch):
    monkeypatch.setattr("payments.providers.coinpayments.time.sleep", lambda s: None)
    monkeypatch.setattr("payments.providers.e9th.time.sleep", lambda s: None)


def create_result(txn_id: str = "CPTX1", amount: str = "50.12345678", **extra) -> dict:
    result = {
        "amount": amount,
        "txn_id": txn_id,
        "address": "TXYZdepositAddress123",
        "confirms_needed": "10",
        "timeout": 3600,
        "checkout_url": f"https://cp.test/checkout/?id={txn_id}",
        "status_url": f"https://cp.test/status/?id={txn_id}",
        "qrcode_url": f"https://cp.test/qrgen.php?id={txn_id}",
    }
    result.update(extra)
    return {"error": "ok", "result": result}


def make_payment(rsps, user=None, *, txn_id="CPTX1", amount="50.12345678", package="Popular Pack", coin="USDT.TRC20"):
    """A pending CoinPayments payment made through the real checkout service."""
    user = user or UserFactory()
    rsps.add(responses.POST, API_URL, json=create_result(txn_id, amount))
    quote = services.quote(package_id=credit_package(package).pk)
    payment = services.coinpayments_checkout(user=user, quote=quote, coin=coin)
    rsps.reset()
    return payment


def ipn_body(payment, *, status=100, received=None, ipn_id=None, txn_id=None, amount1=None, **overrides) -> bytes:
    fields = {
        "ipn_version": "1.0",
        "ipn_id": ipn_id or f"ipn-{payment.pk}-{status}",
        "ipn_mode": "hmac",
        "ipn_type": "api",
        "merchant": MERCHANT,
        "txn_id": txn_id or payment.reference,
        "status": str(status),
        "status_text": "Complete" if status >= 100 else "Waiting",
        "currency1": "USD",
        "currency2": payment.coin,
        "amount1": amount1 or str(payment.usd_amount),
        "amount2": payment.coin_amount,
        "fee": "0.25",
        "invoice": str(payment.pk),
        "received_amount": received if received is not None else payment.coin_amount,
        "received_confirms": "10",
    }
    fields.update(overrides)
    return urlencode(fields).encode()


def post_ipn(client, body: bytes, *, secret: str = IPN_SECRET, signature: str | None = None):
    return client.post(
        "/payments/coinpayments/ipn/",
        data=body,
        content_type="application/x-www-form-urlencoded",
        HTTP_HMAC=signature if signature is not None else sign(secret, body),
    )


def dec(value: str) -> Decimal:
    return Decimal(value)
