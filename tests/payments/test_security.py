"""Issue 11 (security review), the payments items: each test is an attack that used to work."""

from decimal import Decimal

import pytest
import responses
from django.core import checks
from django.urls import reverse

from accounts.services import api_session_create
from payments import selectors, services
from payments.errors import RefundNotAllowed
from payments.models import Payment, PaymentStatus, RefundRequest, RefundStatus
from tests.factories import UserFactory, credit_package, staff
from wallet.selectors import balance_for_user

from .conftest import API_URL, create_result, ipn_body, make_payment, post_ipn
from .test_e9th import BLOCK_HASH, DEPOSIT, KEY, ORPHAN_HASH, RPC, TOKEN, addr, link, purchase, receipt, rpc_mock

pytestmark = pytest.mark.django_db


def _token(user):
    return api_session_create(user=user, ip=None, user_agent="t")[1]


# --- item 2: no testnet coin for real money ----------------------------------------------------


def _checkout(client, coin):
    return client.post(
        "/api/credits/checkout",
        {"session_token": _token(UserFactory()), "package_id": credit_package("Popular Pack").pk, "currency": coin},
        content_type="application/json",
    )


def test_the_default_coins_refuse_the_valueless_test_coin(cp_settings, rsps, client):
    rsps.add(responses.POST, API_URL, json=create_result())
    resp = _checkout(client, "LTCT")
    assert resp.status_code == 400, resp.content
    assert resp.json()["error"] == "unsupported_currency"
    assert "LTCT" not in resp.json()["accepted"]
    assert not Payment.objects.exists() and not rsps.calls


def test_a_test_coin_listed_by_the_operator_is_still_refused_without_the_opt_in(cp_settings, rsps, client):
    cp_settings.COINPAYMENTS_ACCEPTED_COINS = ["USDT.TRC20", "LTCT"]
    assert _checkout(client, "LTCT").status_code == 400
    assert not Payment.objects.exists()


@pytest.mark.parametrize("switch", ["DEBUG", "COINPAYMENTS_ACCEPT_TEST_COINS_FOR_REAL_MONEY"])
def test_the_test_coin_is_offered_in_debug_or_with_the_named_opt_in(cp_settings, rsps, client, switch):
    setattr(cp_settings, switch, True)
    rsps.add(responses.POST, API_URL, json=create_result())
    assert _checkout(client, "LTCT").status_code == 201
    assert Payment.objects.get().coin == "LTCT"


def _deploy_check_ids():
    return {m.id for m in checks.run_checks(include_deployment_checks=True, tags=[checks.Tags.security])}


def test_check_deploy_warns_while_test_coins_are_accepted(settings):
    assert "payments.W001" not in _deploy_check_ids()
    settings.COINPAYMENTS_ACCEPT_TEST_COINS_FOR_REAL_MONEY = True
    assert "payments.W001" in _deploy_check_ids()
    assert "payments.W001" not in {m.id for m in checks.run_checks()}  # a deploy check only


# --- item 3: only staff holding payments.approve_refund approve a refund -------------------------

REFUNDS = "admin:payments_refundrequest_changelist"


@pytest.fixture
def refund(cp_settings, rsps, client):
    payment = make_payment(rsps)
    post_ipn(client, ipn_body(payment))
    maker = staff("payments.request_refund", "payments.view_refundrequest", "payments.view_payment")
    return services.refund_request(payment_id=payment.pk, requested_by_id=maker.pk, reason="Customer asked")


def _unchanged(refund):
    refund.refresh_from_db()
    assert refund.status == RefundStatus.REQUESTED
    assert refund.payment.status == PaymentStatus.COMPLETED
    assert balance_for_user(user_id=refund.payment.user_id).balance > 0


def test_a_staff_member_without_the_approve_permission_cannot_approve_a_refund(refund):
    bystander = staff("payments.view_refundrequest")
    with pytest.raises(RefundNotAllowed, match="approve_refund") as exc:
        services.refund_approve(request_id=refund.pk, approver_id=bystander.pk)
    assert exc.value.status == 403
    with pytest.raises(RefundNotAllowed):
        services.refund_reject(request_id=refund.pk, approver_id=bystander.pk)
    _unchanged(refund)


def test_the_admin_approve_action_needs_the_approve_permission(refund, client):
    client.force_login(staff("payments.view_refundrequest"))
    assert "Approve (reverse the credits)" not in client.get(reverse(REFUNDS)).content.decode()
    client.post(reverse(REFUNDS), {"action": "approve", "_selected_action": [refund.pk]}, follow=True)
    _unchanged(refund)


def test_the_checker_with_the_permission_approves_in_the_admin(refund, client):
    client.force_login(staff("payments.approve_refund", "payments.view_refundrequest"))
    response = client.post(reverse(REFUNDS), {"action": "approve", "_selected_action": [refund.pk]}, follow=True)
    assert f"Refund #{refund.pk}: approved and reversed." in response.content.decode()
    assert RefundRequest.objects.get(pk=refund.pk).status == RefundStatus.APPROVED


def test_requesting_a_refund_needs_the_request_permission(cp_settings, rsps, client):
    payment = make_payment(rsps)
    post_ipn(client, ipn_body(payment))
    with pytest.raises(RefundNotAllowed, match="request_refund"):
        services.refund_request(payment_id=payment.pk, requested_by_id=UserFactory(is_staff=True).pk, reason="x")
    assert not RefundRequest.objects.exists()


# --- item 11: the IPN's coin must be the payment's; an overpayment is flagged --------------------


def test_an_ipn_paid_in_another_coin_credits_nothing(cp_settings, rsps, client):
    payment = make_payment(rsps)  # priced in USDT.TRC20
    post_ipn(client, ipn_body(payment, currency2="LTCT"))  # the same number of worthless coins
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.PENDING
    assert balance_for_user(user_id=payment.user_id).balance == 0
    assert payment.messages.get().verification_error == "currency2 does not match the payment's coin."


def test_an_overpayment_credits_the_package_and_is_flagged_with_the_excess(cp_settings, rsps, client):
    payment = make_payment(rsps, amount="50.12345678")
    post_ipn(client, ipn_body(payment, received="51.62345678"))
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.COMPLETED
    assert balance_for_user(user_id=payment.user_id).balance == payment.total_credits
    assert payment.flagged_for_review and Decimal(payment.excess_amount) == Decimal("1.5")
    assert "Overpaid" in payment.status_detail
    client.force_login(staff("payments.view_payment"))
    page = client.get(reverse("admin:payments_payment_changelist"), {"flagged_for_review__exact": "1"})
    assert "1.50000000" in page.content.decode()


def test_an_exact_payment_is_not_flagged(cp_settings, rsps, client):
    payment = make_payment(rsps)
    post_ipn(client, ipn_body(payment))
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.COMPLETED and not payment.flagged_for_review


# --- item 10: the block must be canonical; a vanished receipt is held for review -----------------


@pytest.fixture
def chain_claim(client, settings, rsps):
    settings.E9TH_RPC_URL, settings.E9TH_TOKEN_ADDRESS = RPC, TOKEN
    settings.E9TH_DEPOSIT_ADDRESS, settings.E9TH_MIN_CONFIRMATIONS, settings.E9TH_TOKEN_DECIMALS = DEPOSIT, 3, 6
    user = UserFactory()
    link(client, user, KEY)
    return user


def test_a_receipt_from_an_orphaned_block_is_not_credited(client, chain_claim, rsps):
    """The node keeps serving the receipt of a block the canonical chain no longer has: two reads
    of the receipt agree, the chain's hash at that height does not."""
    stale = receipt(sender=addr(KEY), value=50 * 10**6, block=100, block_hash=BLOCK_HASH)
    rpc_mock(rsps, receipts=[stale], head=110, canonical={100: ORPHAN_HASH})
    assert purchase(client, chain_claim).status_code == 202
    assert balance_for_user(user_id=chain_claim.pk).balance == 0
    assert Payment.objects.get().status == PaymentStatus.CONFIRMING


def test_a_stored_block_hash_no_longer_canonical_is_not_credited(client, chain_claim, rsps):
    seen = receipt(sender=addr(KEY), value=50 * 10**6, block=101)
    rpc_mock(rsps, receipts=[seen], head=102)  # 2 of 3 confirmations: stored, not credited
    assert purchase(client, chain_claim).status_code == 202
    assert Payment.objects.get().block_hash == BLOCK_HASH
    rsps.reset()
    moved = receipt(sender=addr(KEY), value=50 * 10**6, block=101, block_hash="0x" + "c3" * 32)
    rpc_mock(rsps, receipts=[moved], head=110, canonical={101: "0x" + "c3" * 32})
    assert purchase(client, chain_claim).status_code == 202  # the block at 101 changed: wait again
    assert balance_for_user(user_id=chain_claim.pk).balance == 0
    assert purchase(client, chain_claim).status_code == 200  # confirmed on the new block
    assert balance_for_user(user_id=chain_claim.pk).balance == 7500


def test_a_receipt_that_vanished_after_confirming_is_held_for_review(client, chain_claim, rsps):
    from datetime import timedelta

    from django.utils import timezone

    rpc_mock(rsps, receipts=[receipt(sender=addr(KEY), value=50 * 10**6, block=101)], head=102)
    assert purchase(client, chain_claim).status_code == 202
    payment = Payment.objects.get()
    assert payment.status == PaymentStatus.CONFIRMING
    rsps.reset()
    rpc_mock(rsps, receipts=[None])  # reorged away
    Payment.objects.filter(pk=payment.pk).update(created_at=timezone.now() - timedelta(minutes=31))
    services.poll_payments()
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.NEEDS_REVIEW and payment.flagged_for_review
    assert payment.pk not in selectors.open_chain_payment_ids()  # no longer polled
    assert balance_for_user(user_id=chain_claim.pk).balance == 0


# --- item 12: the deposit page shows the token's real decimals -----------------------------------


def test_the_deposit_page_reads_the_decimals_from_the_contract_when_unset(client, chain_claim, rsps, settings):
    from payments.services.e9th import _decimals_cache

    settings.E9TH_TOKEN_DECIMALS = None
    _decimals_cache.clear()
    rpc_mock(rsps, receipts=[None])  # the contract answers decimals() = 6
    client.force_login(chain_claim)
    page = client.get(reverse("payments:e9th_deposit"), {"package": credit_package("Popular Pack").pk}).content.decode()
    assert "50.000000 E9th" in page and "(50000000 token units)" in page
    assert "50000000000000000000" not in page  # never the 18-decimal guess


def test_the_deposit_page_shows_no_guessed_units_when_the_chain_is_down(client, chain_claim, rsps, settings):
    from payments.services.e9th import _decimals_cache

    settings.E9TH_TOKEN_DECIMALS = None
    _decimals_cache.clear()
    rsps.add(responses.POST, RPC, status=502)
    client.force_login(chain_claim)
    resp = client.get(reverse("payments:e9th_deposit"), {"package": credit_package("Popular Pack").pk})
    assert resp.status_code == 200
    assert "token units)" not in resp.content.decode() and "cannot be read" in resp.content.decode()
