"""CoinPayments client, checkout API and IPN: every call mocked with `responses`."""

import hashlib
import hmac
from decimal import Decimal
from urllib.parse import parse_qs

import pytest
import requests
import responses

from accounts.services import api_session_create
from payments.models import Payment, PaymentStatus, ProviderMessage
from payments.providers import coinpayments as cp
from tests.factories import UserFactory, credit_package
from wallet.models import Transfer
from wallet.selectors import balance_for_user

from .conftest import API_URL, IPN_SECRET, PRIVATE_KEY, create_result, ipn_body, make_payment, post_ipn

pytestmark = pytest.mark.django_db


def _token(user):
    return api_session_create(user=user, ip=None, user_agent="t")[1]


# --- client ---------------------------------------------------------------------------------


def test_client_signs_the_exact_form_body_it_sends(cp_settings, rsps):
    rsps.add(responses.POST, API_URL, json=create_result())
    cp.Client().create_transaction(
        amount="50.00", currency1="USD", currency2="BTC", buyer_email="a@b.c", invoice="7", ipn_url="https://x/ipn/"
    )
    sent = rsps.calls[0].request
    body = sent.body if isinstance(sent.body, bytes) else sent.body.encode()
    assert sent.headers["HMAC"] == hmac.new(PRIVATE_KEY.encode(), body, hashlib.sha512).hexdigest()
    assert sent.headers["Content-Type"] == "application/x-www-form-urlencoded"
    fields = parse_qs(body.decode())
    assert fields["version"] == ["1"] and fields["cmd"] == ["create_transaction"]
    assert fields["key"] == ["public-key"] and fields["format"] == ["json"]
    assert fields["invoice"] == ["7"] and fields["currency1"] == ["USD"] and fields["currency2"] == ["BTC"]


def test_error_not_ok_is_a_domain_error(cp_settings, rsps):
    rsps.add(responses.POST, API_URL, json={"error": "Invalid currency", "result": []})
    with pytest.raises(cp.CoinPaymentsError, match="Invalid currency"):
        cp.Client().get_tx_info_multi(["A"])


def test_reads_retry_5xx_and_timeouts_with_backoff(cp_settings, rsps):
    sleeps = []
    rsps.add(responses.POST, API_URL, status=502)
    rsps.add(responses.POST, API_URL, body=requests.ReadTimeout())
    rsps.add(responses.POST, API_URL, json={"error": "ok", "result": {"A": {"error": "ok", "status": 0}}})
    result = cp.Client(sleep=sleeps.append).get_tx_info_multi(["A"])
    assert result["A"]["status"] == 0
    assert len(rsps.calls) == 3
    assert sleeps == [0.5, 1.0]


def test_multi_refuses_more_than_25_ids(cp_settings):
    with pytest.raises(ValueError):
        cp.Client().get_tx_info_multi([str(i) for i in range(26)])


# --- checkout -------------------------------------------------------------------------------


def test_checkout_answers_201_in_the_contract_shape(cp_settings, rsps, client):
    user = UserFactory()
    rsps.add(responses.POST, API_URL, json=create_result("CPABC", "50.00000123"))
    pkg = credit_package("Popular Pack")
    resp = client.post(
        "/api/credits/checkout",
        {"session_token": _token(user), "package_id": pkg.pk, "currency": "USDT.TRC20"},
        content_type="application/json",
    )
    assert resp.status_code == 201, resp.content
    body = resp.json()
    payment = Payment.objects.get()
    assert set(body) == {
        "payment_id",
        "status",
        "address",
        "amount",
        "currency",
        "confirms_needed",
        "expires_at",
        "checkout_url",
        "status_url",
        "qrcode_url",
    }
    assert body["payment_id"] == payment.pk and body["status"] == "pending"
    assert body["amount"] == "50.00000123" and isinstance(body["amount"], str)
    assert body["confirms_needed"] == 10 and body["currency"] == "USDT.TRC20"
    assert body["expires_at"].endswith("Z")
    sent = parse_qs(
        rsps.calls[0].request.body.decode()
        if isinstance(rsps.calls[0].request.body, bytes)
        else rsps.calls[0].request.body
    )
    assert sent["amount"] == ["50.00"] and sent["invoice"] == [str(payment.pk)]
    assert sent["buyer_email"] == [user.email]
    assert sent["ipn_url"] == ["https://goldbook.test/payments/coinpayments/ipn/"]
    assert payment.reference == "CPABC" and payment.bonus_credits == 2500


def test_provider_numbers_are_kept_digit_for_digit(cp_settings, rsps, client):
    user = UserFactory()
    rsps.add(
        responses.POST,
        API_URL,
        body='{"error":"ok","result":{"amount":0.00123400,"txn_id":"N1","address":"a","confirms_needed":"2","timeout":60}}',
        content_type="application/json",
    )
    resp = client.post(
        "/api/credits/checkout",
        {"session_token": _token(user), "package_id": credit_package().pk, "currency": "BTC"},
        content_type="application/json",
    )
    assert resp.status_code == 201
    assert resp.json()["amount"] == "0.00123400"


def test_unknown_coin_is_400_and_calls_nobody(cp_settings, rsps, client):
    user = UserFactory()
    resp = client.post(
        "/api/credits/checkout",
        {"session_token": _token(user), "package_id": credit_package().pk, "currency": "DOGE"},
        content_type="application/json",
    )
    assert resp.status_code == 400 and resp.json()["error"] == "unsupported_currency"
    assert len(rsps.calls) == 0 and not Payment.objects.exists()


def test_provider_error_is_502_with_its_message_and_nothing_half_made(cp_settings, rsps, client):
    user = UserFactory()
    rsps.add(responses.POST, API_URL, json={"error": "Amount too small", "result": []})
    resp = client.post(
        "/api/credits/checkout",
        {"session_token": _token(user), "package_id": credit_package().pk, "currency": "BTC"},
        content_type="application/json",
    )
    assert resp.status_code == 502
    assert "Amount too small" in resp.json()["message"]
    assert not Payment.objects.exclude(status=PaymentStatus.FAILED).exists()
    assert Payment.objects.get().reference is None


def test_provider_outage_is_502(cp_settings, rsps, client):
    user = UserFactory()
    rsps.add(responses.POST, API_URL, status=503)
    resp = client.post(
        "/api/credits/checkout",
        {"session_token": _token(user), "package_id": credit_package().pk, "currency": "BTC"},
        content_type="application/json",
    )
    assert resp.status_code == 502
    assert not Payment.objects.filter(status=PaymentStatus.PENDING).exists()


def test_ambiguous_create_adopts_the_transaction_instead_of_making_a_second(cp_settings, rsps):
    """The first create times out after the provider made the transaction: we find it by its
    invoice and never call create_transaction again."""
    user = UserFactory()
    creates = []

    def callback(request):
        fields = parse_qs(request.body.decode() if isinstance(request.body, bytes) else request.body)
        cmd = fields["cmd"][0]
        if cmd == "create_transaction":
            creates.append(fields["invoice"][0])
            raise requests.ReadTimeout("read timed out")
        if cmd == "get_tx_ids":
            return 200, {}, '{"error":"ok","result":["OTHER","MINE"]}'
        txid = fields["txid"][0]
        invoice = creates[0] if txid == "MINE" else "999999"
        return (
            200,
            {},
            (
                '{"error":"ok","result":{"status":0,"amountf":"50.5","payment_address":"addr-mine",'
                f'"time_expires":4102444800,"checkout":{{"invoice":"{invoice}"}}}}}}'
            ),
        )

    rsps.add_callback(responses.POST, API_URL, callback=callback)
    from payments import services

    payment = services.coinpayments_checkout(
        user=user, quote=services.quote(package_id=credit_package().pk), coin="BTC"
    )
    assert len(creates) == 1
    assert payment.reference == "MINE" and payment.address == "addr-mine" and payment.status == "pending"


def test_ambiguous_create_retries_once_when_the_provider_has_none(cp_settings, rsps):
    user = UserFactory()
    rsps.add(responses.POST, API_URL, status=500)  # create: ambiguous
    rsps.add(responses.POST, API_URL, json={"error": "ok", "result": []})  # get_tx_ids: nothing
    rsps.add(responses.POST, API_URL, json=create_result("SECOND"))  # create again
    from payments import services

    payment = services.coinpayments_checkout(
        user=user, quote=services.quote(package_id=credit_package().pk), coin="BTC"
    )
    cmds = [
        parse_qs(c.request.body.decode() if isinstance(c.request.body, bytes) else c.request.body)["cmd"][0]
        for c in rsps.calls
    ]
    assert cmds == ["create_transaction", "get_tx_ids", "create_transaction"]
    assert payment.reference == "SECOND"


def test_payment_status_is_for_its_owner_only(cp_settings, rsps, client):
    payment = make_payment(rsps)
    other = UserFactory()
    mine = client.get(f"/api/payments/{payment.pk}", HTTP_AUTHORIZATION=f"Bearer {_token(payment.user)}")
    theirs = client.get(f"/api/payments/{payment.pk}", HTTP_AUTHORIZATION=f"Bearer {_token(other)}")
    assert mine.status_code == 200 and mine.json()["status"] == "pending"
    assert theirs.status_code == 404
    assert client.get(f"/api/payments/{payment.pk}").status_code == 401


# --- IPN ------------------------------------------------------------------------------------


def _balance(user):
    return balance_for_user(user_id=user.pk).balance


def test_genuine_ipn_credits_purchase_and_bonus_once(cp_settings, rsps, client):
    payment = make_payment(rsps)
    body = ipn_body(payment, status=100)
    assert post_ipn(client, body).status_code == 200
    assert post_ipn(client, body).status_code == 200  # the provider retries: harmless
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.COMPLETED
    assert _balance(payment.user) == 7500
    kinds = dict(
        Transfer.objects.filter(idempotency_key__startswith=f"payment:{payment.pk}:").values_list("kind", "amount")
    )
    assert kinds == {"purchase": 5000, "bonus": 2500}
    purchase = Transfer.objects.get(idempotency_key=f"payment:{payment.pk}:purchase")
    assert purchase.cause == payment
    assert payment.history_fields(purchase) == {"package_name": "Popular Pack"}
    bonus = Transfer.objects.get(idempotency_key=f"payment:{payment.pk}:bonus")
    assert payment.history_fields(bonus) == {"notes": "Bonus credits for package purchase", "subject": "Popular Pack"}
    assert ProviderMessage.objects.filter(payment=payment, verified=True).count() == 1


@pytest.mark.parametrize(
    "tamper",
    [
        {"signature": "0" * 128},
        {"secret": "wrong-secret"},
        {"overrides": {"ipn_mode": "httpauth"}},
        {"overrides": {"merchant": "someone-else"}},
        {"overrides": {"currency1": "EUR"}},
        {"overrides": {"amount1": "5.00"}},
        {"overrides": {"invoice": "999999"}},
        {"overrides": {"txn_id": "ANOTHER"}},
    ],
    ids=["bad-hmac", "wrong-secret", "ipn-mode", "merchant", "currency1", "amount1", "invoice", "txn-id"],
)
def test_forged_or_mismatched_ipn_is_400_stored_and_credits_nothing(cp_settings, rsps, client, tamper):
    payment = make_payment(rsps)
    body = ipn_body(payment, status=100, **tamper.get("overrides", {}))
    resp = post_ipn(client, body, secret=tamper.get("secret", IPN_SECRET), signature=tamper.get("signature"))
    assert resp.status_code == 400
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.PENDING and _balance(payment.user) == 0
    stored = ProviderMessage.objects.get()
    assert stored.verified is False and stored.verification_error and stored.message_id.startswith("unverified:")


def test_forged_ipn_cannot_squat_a_genuine_ipn_id(cp_settings, rsps, client):
    payment = make_payment(rsps)
    forged = ipn_body(payment, status=100, ipn_id="IPN-42")
    assert post_ipn(client, forged, signature="f" * 128).status_code == 400
    genuine = ipn_body(payment, status=100, ipn_id="IPN-42")
    assert post_ipn(client, genuine).status_code == 200
    assert _balance(payment.user) == 7500


def test_garbage_body_never_500(cp_settings, client):
    resp = client.post(
        "/payments/coinpayments/ipn/", data=b"\xff\x00%%%", content_type="application/octet-stream", HTTP_HMAC="x"
    )
    assert resp.status_code == 400


def test_out_of_order_ipns_never_move_a_completed_payment_back(cp_settings, rsps, client):
    payment = make_payment(rsps)
    post_ipn(client, ipn_body(payment, status=100))
    assert post_ipn(client, ipn_body(payment, status=0, received="0")).status_code == 200
    assert post_ipn(client, ipn_body(payment, status=-1, received="0")).status_code == 200
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.COMPLETED and _balance(payment.user) == 7500


def test_funds_seen_moves_to_confirming_then_completes(cp_settings, rsps, client):
    payment = make_payment(rsps)
    post_ipn(client, ipn_body(payment, status=1, received=payment.coin_amount, received_confirms="2"))
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.CONFIRMING and payment.confirmations == 2 and _balance(payment.user) == 0
    post_ipn(client, ipn_body(payment, status=100))
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.COMPLETED


def test_underpaid_payment_is_not_credited(cp_settings, rsps, client):
    payment = make_payment(rsps, amount="50.00000000")
    post_ipn(client, ipn_body(payment, status=-1, received="20.00000000"))
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.UNDERPAID and _balance(payment.user) == 0


def test_complete_status_with_too_little_received_needs_review(cp_settings, rsps, client):
    payment = make_payment(rsps, amount="50.00000000")
    post_ipn(client, ipn_body(payment, status=100, received="49.00000000"))
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.NEEDS_REVIEW and _balance(payment.user) == 0


def test_expired_then_paid_still_credits(cp_settings, rsps, client):
    payment = make_payment(rsps)
    post_ipn(client, ipn_body(payment, status=-1, received="0"))
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.EXPIRED
    post_ipn(client, ipn_body(payment, status=100))
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.COMPLETED and _balance(payment.user) == 7500


def test_status_2_completes(cp_settings, rsps, client):
    payment = make_payment(rsps)
    post_ipn(client, ipn_body(payment, status=2))
    assert _balance(payment.user) == 7500


def test_transient_database_failure_answers_503(cp_settings, rsps, client, monkeypatch):
    from django.db import OperationalError

    payment = make_payment(rsps)

    def boom(**kwargs):
        raise OperationalError("could not obtain lock")

    monkeypatch.setattr("payments.services.coinpayments.apply_ipn_fields", boom)
    assert post_ipn(client, ipn_body(payment)).status_code == 503
    assert _balance(payment.user) == 0


def test_admin_can_reprocess_a_stored_ipn(cp_settings, rsps, client, settings):
    payment = make_payment(rsps)
    settings.COINPAYMENTS_IPN_SECRET = "rotated-too-early"
    assert post_ipn(client, ipn_body(payment)).status_code == 400  # our secret was wrong
    settings.COINPAYMENTS_IPN_SECRET = IPN_SECRET
    msg = ProviderMessage.objects.get()
    from payments import services

    assert services.message_reprocess(message_id=msg.pk) == "completed"
    assert _balance(payment.user) == 7500


def test_receipt_email_is_sent_once(cp_settings, rsps, client, mailoutbox, django_capture_on_commit_callbacks):
    payment = make_payment(rsps)
    with django_capture_on_commit_callbacks(execute=True):
        post_ipn(client, ipn_body(payment))
        post_ipn(client, ipn_body(payment, ipn_id="dup"))
    assert len(mailoutbox) == 1
    assert "75.00" in mailoutbox[0].body and mailoutbox[0].to == [payment.user.email]
    assert f"/payments/{payment.pk}/receipt/" in mailoutbox[0].body


def test_the_receipt_email_is_in_the_members_language(
    cp_settings, rsps, client, mailoutbox, django_capture_on_commit_callbacks
):
    payment = make_payment(rsps)
    payment.user.language = "zh-hans"
    payment.user.save(update_fields=["language"])
    with django_capture_on_commit_callbacks(execute=True):
        post_ipn(client, ipn_body(payment))
    assert "收据" in mailoutbox[0].subject and "感谢" in mailoutbox[0].body


def test_ipn_amount_compares_as_decimal(cp_settings, rsps, client):
    payment = make_payment(rsps)
    assert post_ipn(client, ipn_body(payment, amount1="50")).status_code == 200
    assert payment.usd_amount == Decimal("50.00")
