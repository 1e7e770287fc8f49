"""Issue 10: retried purchases (Idempotency-Key) and provider faults (items 2 and 8), each with
the fault injected: a retried request, a provider without keys, an oversized or malformed IPN."""

from unittest import mock

import pytest
import requests
import responses

from accounts.services import api_session_create
from payments.models import Payment, PaymentStatus
from payments.providers import coinpayments as cp
from payments.providers import e9th
from tests.factories import UserFactory, credit_package
from wallet.selectors import balance_for_user

from .conftest import API_URL, create_result, make_payment
from .test_e9th import KEY, TX, addr, link, receipt, rpc_mock
from .test_e9th import e9th_settings as e9th_settings  # noqa: F401 - a fixture
from .test_e9th import rsps as rsps  # noqa: F401 - a fixture

pytestmark = pytest.mark.django_db


def checkout(client, user, *, key=None, package="Popular Pack", coin="USDT.TRC20"):
    headers = {} if key is None else {"HTTP_IDEMPOTENCY_KEY": key}
    token = api_session_create(user=user, ip=None, user_agent="t")[1]
    return client.post(
        "/api/credits/checkout",
        {"session_token": token, "package_id": credit_package(package).pk, "currency": coin},
        content_type="application/json",
        **headers,
    )


# --- checkout with an Idempotency-Key ------------------------------------------------------------


def test_checkout_retried_with_the_same_key_returns_the_same_payment_and_calls_the_provider_once(
    cp_settings, rsps, client
):
    user = UserFactory()
    rsps.add(responses.POST, API_URL, json=create_result("CPONE"))
    first = checkout(client, user, key="buy-1")
    again = checkout(client, user, key="buy-1")
    assert first.status_code == again.status_code == 201, (first.content, again.content)
    assert again.json() == first.json()
    assert len(rsps.calls) == 1 and Payment.objects.count() == 1


def test_checkout_same_key_for_another_package_is_409(cp_settings, rsps, client):
    user = UserFactory()
    rsps.add(responses.POST, API_URL, json=create_result("CPONE"))
    checkout(client, user, key="buy-1")
    other = checkout(client, user, key="buy-1", package="Starter Pack")
    assert other.status_code == 409, other.content
    assert other.json()["error"] == "idempotency_conflict"
    assert Payment.objects.count() == 1


def test_checkout_keys_are_per_member(cp_settings, rsps, client):
    rsps.add(responses.POST, API_URL, json=create_result("CPONE"))
    rsps.add(responses.POST, API_URL, json=create_result("CPTWO"))
    a = checkout(client, UserFactory(), key="same")
    b = checkout(client, UserFactory(), key="same")
    assert a.status_code == b.status_code == 201
    assert a.json()["payment_id"] != b.json()["payment_id"]


def test_checkout_bad_key_is_400_and_calls_nobody(cp_settings, rsps, client):
    resp = checkout(client, UserFactory(), key="x" * 101)
    assert resp.status_code == 400 and resp.json()["error"] == "invalid_request"
    assert len(rsps.calls) == 0 and not Payment.objects.exists()


def test_checkout_retry_after_a_provider_outage_tries_again(cp_settings, rsps, client):
    """Nothing was made at the provider: the key is free again, the retry makes the payment."""
    user = UserFactory()
    rsps.add(responses.POST, API_URL, body=requests.ConnectTimeout())
    failed = checkout(client, user, key="buy-2")
    assert failed.status_code == 502
    rsps.reset()
    rsps.add(responses.POST, API_URL, json=create_result("CPLATE"))
    again = checkout(client, user, key="buy-2")
    assert again.status_code == 201, again.content
    assert Payment.objects.get(pk=again.json()["payment_id"]).reference == "CPLATE"


def test_checkout_retry_while_the_first_is_still_at_the_provider_is_409(cp_settings, rsps, client):
    user = UserFactory()
    rsps.add(responses.POST, API_URL, json=create_result("CPONE"))
    first = checkout(client, user, key="buy-3")
    # As if the first request were still waiting for CoinPayments' answer.
    Payment.objects.filter(pk=first.json()["payment_id"]).update(reference=None, address="")
    again = checkout(client, user, key="buy-3")
    assert again.status_code == 409 and again.json()["error"] == "idempotency_in_progress"
    assert "still being processed" in again.json()["message"]
    assert len(rsps.calls) == 1


# --- CoinPayments without keys ----------------------------------------------------------------------


def test_checkout_without_coinpayments_keys_is_503_not_configured(settings, rsps, client):
    settings.COINPAYMENTS_PUBLIC_KEY = ""
    resp = checkout(client, UserFactory())
    assert resp.status_code == 503, resp.content
    assert resp.json()["error"] == "not_configured" and resp.json()["message"]
    assert len(rsps.calls) == 0 and not Payment.objects.exists()


def test_recharge_page_says_coinpayments_is_not_available_without_keys(settings, client):
    settings.COINPAYMENTS_PUBLIC_KEY = "pk"
    settings.COINPAYMENTS_PRIVATE_KEY = "sk"
    settings.COINPAYMENTS_MERCHANT_ID = "m"
    settings.COINPAYMENTS_IPN_SECRET = ""  # without it no payment could ever be confirmed
    client.force_login(UserFactory())
    resp = client.post(
        "/recharge/checkout/",
        {"method": "coinpayments", "package_id": credit_package().pk, "coin": "BTC"},
        follow=True,
    )
    assert resp.status_code == 200
    assert "not available on this site" in resp.content.decode()
    assert not Payment.objects.exists()


# --- the IPN: oversized and malformed bodies ------------------------------------------------------


def _ipn(client, body: bytes):
    return client.post(
        "/payments/coinpayments/ipn/", body, content_type="application/x-www-form-urlencoded", HTTP_HMAC="00"
    )


@pytest.mark.parametrize("megabytes", [3, 30])
def test_an_oversized_ipn_is_413_with_the_error_shape(cp_settings, client, megabytes):
    resp = _ipn(client, b"a=" + b"x" * (megabytes * 1024 * 1024))
    assert resp.status_code == 413, resp.content[:200]
    body = resp.json()
    assert body["error"] == "too_large" and body["message"]


@pytest.mark.parametrize(
    "body",
    [b"ipn_mode=hmac&merchant=m\x00&txn_id=1", b"\xff\xfe\xfd=\x80", b"invoice=1&status=100&" + b"%00" * 3],
)
def test_a_malformed_ipn_is_400_with_the_error_shape(cp_settings, client, body):
    resp = _ipn(client, body)
    assert resp.status_code == 400, resp.content
    assert resp.json()["error"] == "invalid_request"


def test_a_genuine_ipn_still_answers_ipn_ok(cp_settings, rsps, client):
    from .conftest import ipn_body, post_ipn

    payment = make_payment(rsps)
    resp = post_ipn(client, ipn_body(payment, status=100, received=payment.coin_amount))
    assert resp.status_code == 200 and resp.content == b"IPN OK"


# --- E9th claim with an Idempotency-Key -----------------------------------------------------------


def claim(client, user, *, key, tx=TX):
    token = api_session_create(user=user, ip=None, user_agent="t")[1]
    return client.post(
        "/api/credits/purchase",
        {
            "session_token": token,
            "package_id": credit_package("Popular Pack").pk,
            "payment_method": "e9th_stablecoin",
            "tx_hash": tx,
            "wallet_address": addr(KEY),
        },
        content_type="application/json",
        HTTP_IDEMPOTENCY_KEY=key,
    )


def test_e9th_claim_retried_with_its_key_credits_once(client, e9th_settings, rsps):  # noqa: F811
    user = UserFactory()
    link(client, user, KEY)
    rpc_mock(rsps, receipts=[receipt(sender=addr(KEY), value=50 * 10**6)], head=102)
    first = claim(client, user, key="claim-1")
    again = claim(client, user, key="claim-1")
    assert first.status_code == again.status_code == 200, (first.content, again.content)
    assert again.json()["transaction_id"] == first.json()["transaction_id"]
    assert balance_for_user(user_id=user.pk).balance == 7500


def test_e9th_claim_key_reused_for_another_transaction_is_409(client, e9th_settings, rsps):  # noqa: F811
    user = UserFactory()
    link(client, user, KEY)
    rpc_mock(rsps, receipts=[receipt(sender=addr(KEY), value=50 * 10**6)], head=102)
    claim(client, user, key="claim-1")
    other = claim(client, user, key="claim-1", tx="0x" + "cd" * 32)
    assert other.status_code == 409, other.content
    assert other.json()["error"] == "idempotency_conflict"
    assert Payment.objects.count() == 1


def test_e9th_claim_bad_key_is_400(client, e9th_settings):  # noqa: F811
    user = UserFactory()
    link(client, user, KEY)
    resp = claim(client, user, key="\u00e9t\u00e9")
    assert resp.status_code == 400 and resp.json()["error"] == "invalid_request"


# --- every provider call has a timeout --------------------------------------------------------------


def test_every_coinpayments_call_carries_the_configured_timeout(cp_settings):
    cp_settings.COINPAYMENTS_TIMEOUT_SECONDS = 4.5
    session = mock.Mock()
    session.post.return_value = mock.Mock(status_code=200, content=b'{"error": "ok", "result": {}}')
    cp.Client(session=session).get_tx_info(txid="T")
    assert session.post.call_args.kwargs["timeout"] == 4.5


def test_every_chain_rpc_call_carries_the_configured_timeout(e9th_settings):  # noqa: F811
    e9th_settings.E9TH_RPC_TIMEOUT_SECONDS = 3.5
    session = mock.Mock()
    session.post.return_value = mock.Mock(status_code=200, json=lambda: {"jsonrpc": "2.0", "id": 1, "result": "0x10"})
    assert e9th.Client(session=session).block_number() == 16
    assert session.post.call_args.kwargs["timeout"] == 3.5


def test_a_payment_status_never_moves_on_a_bad_key(cp_settings, rsps, client):
    """A refused key changes nothing already made."""
    user = UserFactory()
    rsps.add(responses.POST, API_URL, json=create_result("CPONE"))
    made = checkout(client, user, key="ok-key")
    checkout(client, user, key="")
    assert Payment.objects.get(pk=made.json()["payment_id"]).status == PaymentStatus.PENDING


# --- a checkout request ends before the web server would kill it ------------------------------------


class FakeTime:
    """The provider module's clock: each call's timeout and each backoff advance it."""

    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now

    def time(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


@pytest.mark.parametrize("fault", [requests.ConnectTimeout, requests.ReadTimeout])
def test_a_checkout_against_a_provider_that_never_answers_ends_within_its_budget(
    cp_settings, client, monkeypatch, fault
):
    """gunicorn kills a worker after 30 s; 4 attempts of 10 s each (twice over, for a connect
    timeout) used to outlive it and leave the member with a dropped connection."""
    clock = FakeTime()
    monkeypatch.setattr("payments.providers.coinpayments.time", clock)

    def never_answers(url, data=None, headers=None, timeout=None):
        clock.now += timeout
        raise fault()

    session = mock.Mock(post=mock.Mock(side_effect=never_answers))
    monkeypatch.setattr("payments.providers.coinpayments.requests.Session", lambda: session)
    resp = checkout(client, UserFactory(), key="slow")
    assert resp.status_code == 502, resp.content
    assert clock.now - 1000.0 <= cp_settings.COINPAYMENTS_CHECKOUT_BUDGET_SECONDS
    assert Payment.objects.get().status == PaymentStatus.FAILED


def test_a_checkout_abandoned_mid_call_frees_its_key(cp_settings, rsps, client):
    """The process died while CoinPayments was answering: long after, the same key starts again."""
    from datetime import timedelta

    from django.utils import timezone

    user = UserFactory()
    rsps.add(responses.POST, API_URL, json=create_result("CPONE"))
    first = checkout(client, user, key="buy-4")
    Payment.objects.filter(pk=first.json()["payment_id"]).update(
        reference=None, created_at=timezone.now() - timedelta(minutes=5)
    )
    rsps.reset()
    rsps.add(responses.POST, API_URL, json=create_result("CPTWO"))
    again = checkout(client, user, key="buy-4")
    assert again.status_code == 201, again.content
    assert again.json()["payment_id"] != first.json()["payment_id"]
    assert Payment.objects.get(pk=first.json()["payment_id"]).status == PaymentStatus.FAILED


def test_an_e9th_claim_against_a_node_that_never_answers_ends_within_its_budget(
    client,
    e9th_settings,
    monkeypatch,  # noqa: F811
):
    """Four reads, three tries of 10 s each: two minutes of a gunicorn worker before the budget."""
    user = UserFactory()
    link(client, user, KEY)
    clock = FakeTime()
    monkeypatch.setattr("payments.providers.e9th.time", clock)

    def never_answers(url, json=None, timeout=None):
        clock.now += timeout
        raise requests.ReadTimeout()

    session = mock.Mock(post=mock.Mock(side_effect=never_answers))
    monkeypatch.setattr("payments.providers.e9th.requests.Session", lambda: session)
    resp = claim(client, user, key="slow-claim")
    assert resp.status_code == 503 and resp.json()["error"] == "chain_unavailable"
    assert clock.now - 1000.0 <= e9th_settings.E9TH_REQUEST_BUDGET_SECONDS
    assert not Payment.objects.exists()


def test_a_credited_e9th_claim_is_answered_200_when_the_database_fails_after_commit(
    client,
    e9th_settings,
    rsps,  # noqa: F811
):
    from tests.dbfaults import database_fails_after

    user = UserFactory()
    link(client, user, KEY)
    rpc_mock(rsps, receipts=[receipt(sender=addr(KEY), value=50 * 10**6)], head=102)
    with database_fails_after("payments.services.e9th_purchase"):
        resp = claim(client, user, key="claim-after-commit")
    assert resp.status_code == 200, resp.content
    assert resp.json()["new_balance"] == 75.0 and resp.json()["total_credits_added"] == 75.0
