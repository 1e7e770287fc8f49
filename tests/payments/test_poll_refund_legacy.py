"""Poller, racing credits (Postgres), refunds (maker-checker), legacy plans, pricing."""

import threading
from datetime import timedelta
from decimal import Decimal
from io import StringIO
from urllib.parse import parse_qs

import pytest
import responses
from django.core.management import CommandError, call_command
from django.db import connection
from django.utils import timezone
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from payments import services
from payments.errors import AmountOutOfRange, PurchaseLimitReached, RefundNotAllowed, RefundShortfall
from payments.models import Payment, PaymentStatus, RefundStatus
from payments.services.coinpayments import apply_poll_result
from tests.factories import UserFactory, credit_package, fund, staff
from wallet import services as wallet
from wallet.models import SystemAccount, Transfer, TransferKind
from wallet.selectors import balance_for_user

from .conftest import API_URL, create_result, ipn_body, make_payment, post_ipn

pytestmark = pytest.mark.django_db


def multi_answer(request, statuses):
    fields = parse_qs(request.body.decode() if isinstance(request.body, bytes) else request.body)
    ids = fields["txid"][0].split("|")
    import json

    result = {
        i: {
            "error": "ok",
            "status": statuses.get(i, 0),
            "receivedf": "50.12345678" if statuses.get(i, 0) >= 100 else "0.00000000",
            "recv_confirms": 10,
        }
        for i in ids
    }
    return 200, {}, json.dumps({"error": "ok", "result": result})


def test_poll_completes_a_payment_whose_ipn_was_lost(cp_settings, rsps):
    payment = make_payment(rsps)
    rsps.add_callback(responses.POST, API_URL, callback=lambda r: multi_answer(r, {payment.reference: 100}))
    report = services.poll_payments()
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.COMPLETED and report.updated == 1
    assert balance_for_user(user_id=payment.user.pk).balance == 7500
    services.poll_payments()  # nothing open any more: no call, no second credit
    assert len(rsps.calls) == 1
    assert balance_for_user(user_id=payment.user.pk).balance == 7500


def test_poll_batches_at_most_25_ids_per_call(cp_settings, rsps):
    user = UserFactory()
    for i in range(60):
        rsps.add(responses.POST, API_URL, json=create_result(f"TX{i}"))
    # payments set up through the service (limits raised for this bulk buyer)
    cp_settings.PAYMENTS_DAILY_LIMIT_USD = "100000"
    cp_settings.PAYMENTS_MONTHLY_LIMIT_USD = "100000"
    for _ in range(60):
        services.coinpayments_checkout(
            user=user, quote=services.quote(package_id=credit_package("Starter Pack").pk), coin="BTC"
        )
    rsps.reset()
    rsps.add_callback(responses.POST, API_URL, callback=lambda r: multi_answer(r, {}))
    report = services.poll_payments()
    sizes = [
        len(
            parse_qs(c.request.body if isinstance(c.request.body, str) else c.request.body.decode())["txid"][0].split(
                "|"
            )
        )
        for c in rsps.calls
    ]
    assert sizes == [25, 25, 10] and report.provider_calls == 3 and report.checked == 60


def test_poll_expires_payments_past_their_deadline(cp_settings, rsps):
    payment = make_payment(rsps)
    Payment.objects.filter(pk=payment.pk).update(expires_at=timezone.now() - timedelta(minutes=1))
    rsps.add_callback(responses.POST, API_URL, callback=lambda r: multi_answer(r, {}))
    report = services.poll_payments()
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.EXPIRED and report.expired == 1


def test_poll_survives_a_provider_outage(cp_settings, rsps):
    payment = make_payment(rsps)
    rsps.add(responses.POST, API_URL, status=503)
    report = services.poll_payments()
    assert report.errors and Payment.objects.get(pk=payment.pk).status == PaymentStatus.PENDING


def test_poll_payments_command(cp_settings, rsps):
    payment = make_payment(rsps)
    rsps.add_callback(responses.POST, API_URL, callback=lambda r: multi_answer(r, {payment.reference: 100}))
    out = StringIO()
    call_command("poll_payments", stdout=out)
    assert "Checked 1 CoinPayments payment(s) in 1 call(s), 1 updated" in out.getvalue()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_ipn_poller_and_resubmission_racing_credit_once(cp_settings):
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        payment = make_payment(rsps)
    body = ipn_body(payment, status=100)
    barrier = threading.Barrier(6)
    errors = []

    def via_ipn():
        from django.test import Client

        try:
            barrier.wait()
            assert post_ipn(Client(), body).status_code == 200
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)
        finally:
            connection.close()

    def via_poll():
        try:
            barrier.wait()
            apply_poll_result(
                payment_id=payment.pk,
                txn_id=payment.reference,
                info={"status": 100, "receivedf": payment.coin_amount, "recv_confirms": 10},
            )
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=via_ipn) for _ in range(3)] + [
        threading.Thread(target=via_poll) for _ in range(3)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert balance_for_user(user_id=payment.user.pk).balance == 7500
    assert Transfer.objects.filter(kind=TransferKind.PURCHASE, cause_id=str(payment.pk)).count() == 1
    assert Transfer.objects.filter(kind=TransferKind.BONUS, cause_id=str(payment.pk)).count() == 1


# --- refunds ---------------------------------------------------------------------------------

REFUND_MAKER = ("payments.request_refund",)
REFUND_CHECKER = ("payments.approve_refund",)


def completed_payment(rsps, client):
    payment = make_payment(rsps)
    post_ipn(client, ipn_body(payment))
    payment.refresh_from_db()
    return payment


def test_refund_needs_a_second_staff_member_and_reverses_both_transfers(cp_settings, rsps, client):
    payment = completed_payment(rsps, client)
    maker, checker = staff(*REFUND_MAKER), staff(*REFUND_CHECKER)
    req = services.refund_request(payment_id=payment.pk, requested_by_id=maker.pk, reason="Customer asked")
    with pytest.raises(RefundNotAllowed):
        services.refund_approve(request_id=req.pk, approver_id=maker.pk)
    services.refund_approve(request_id=req.pk, approver_id=checker.pk)
    payment.refresh_from_db()
    req.refresh_from_db()
    assert payment.status == PaymentStatus.REFUNDED and req.status == RefundStatus.APPROVED
    assert balance_for_user(user_id=payment.user.pk).balance == 0
    assert Transfer.objects.filter(kind=TransferKind.REVERSAL, reverses__cause_id=str(payment.pk)).count() == 2


def test_refund_of_spent_credits_is_refused_with_the_shortfall(cp_settings, rsps, client):
    payment = completed_payment(rsps, client)
    wallet.transfer_post(
        from_account=wallet.user_account(user_id=payment.user.pk),
        to_account=wallet.system_account(name=SystemAccount.REVENUE),
        amount=1050,
        kind=TransferKind.DOWNLOAD,
        idempotency_key="spend-some",
    )
    maker, checker = staff(*REFUND_MAKER), staff(*REFUND_CHECKER)
    req = services.refund_request(payment_id=payment.pk, requested_by_id=maker.pk, reason="Chargeback")
    with pytest.raises(RefundShortfall) as exc:
        services.refund_approve(request_id=req.pk, approver_id=checker.pk)
    assert exc.value.shortfall == 1050 and "10.50 short" in exc.value.message
    assert balance_for_user(user_id=payment.user.pk).balance == 6450
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.COMPLETED


def test_only_completed_payments_can_be_refunded(cp_settings, rsps):
    payment = make_payment(rsps)
    with pytest.raises(RefundNotAllowed):
        services.refund_request(payment_id=payment.pk, requested_by_id=staff(*REFUND_MAKER).pk, reason="x")


# --- legacy plans ---------------------------------------------------------------------------------


def test_convert_legacy_plans_dry_run_then_idempotent(tmp_path):
    a, b = UserFactory(email="quick@example.com"), UserFactory(email="pro@example.com")
    csv_file = tmp_path / "plans.csv"
    csv_file.write_text("email,plan,legacy_id\nquick@example.com,Quick Download,L1\nPRO@example.com,Pro Access,L2\n")
    out = StringIO()
    call_command("convert_legacy_plans", str(csv_file), "--dry-run", stdout=out)
    assert "2 to convert" in out.getvalue() and "Dry run" in out.getvalue()
    assert balance_for_user(user_id=a.pk).balance == 0
    call_command("convert_legacy_plans", str(csv_file), stdout=StringIO())
    call_command("convert_legacy_plans", str(csv_file), stdout=(out2 := StringIO()))
    assert "0 to convert, 2 already converted" in out2.getvalue()
    assert balance_for_user(user_id=a.pk).balance == 500
    assert balance_for_user(user_id=b.pk).balance == 5000
    assert set(Transfer.objects.filter(kind=TransferKind.CONVERSION).values_list("amount", flat=True)) == {500, 5000}


def test_convert_legacy_plans_refuses_bad_rows_and_converts_nothing(tmp_path):
    UserFactory(email="ok@example.com")
    csv_file = tmp_path / "plans.csv"
    csv_file.write_text(
        "email,plan\nok@example.com,Pro Access\nghost@example.com,Pro Access\nok@example.com,Gold Plan\n"
    )
    err = StringIO()
    with pytest.raises(CommandError, match="2 bad row"):
        call_command("convert_legacy_plans", str(csv_file), stdout=StringIO(), stderr=err)
    assert "line 3: no member" in err.getvalue() and "line 4: unknown plan 'Gold Plan'" in err.getvalue()
    assert not Transfer.objects.filter(kind=TransferKind.CONVERSION).exists()


def test_convert_legacy_plans_missing_file_or_columns(tmp_path):
    with pytest.raises(CommandError, match="Cannot read"):
        call_command("convert_legacy_plans", str(tmp_path / "nope.csv"))
    bad = tmp_path / "bad.csv"
    bad.write_text("name,level\nx,y\n")
    with pytest.raises(CommandError, match="header"):
        call_command("convert_legacy_plans", str(bad))


# --- prices and limits ----------------------------------------------------------------------------


def test_packages_api_is_exactly_the_seed_shape(client):
    resp = client.get("/api/credits/packages")
    assert resp.status_code == 200
    assert resp.json() == {
        "packages": [
            {
                "id": credit_package("Starter Pack").pk,
                "name": "Starter Pack",
                "usd_amount": 25.0,
                "base_credits": 25.0,
                "bonus_credits": 15.0,
                "total_credits": 40.0,
                "estimated_songs": 114,
            },
            {
                "id": credit_package("Popular Pack").pk,
                "name": "Popular Pack",
                "usd_amount": 50.0,
                "base_credits": 50.0,
                "bonus_credits": 25.0,
                "total_credits": 75.0,
                "estimated_songs": 214,
            },
            {
                "id": credit_package("Premium Pack").pk,
                "name": "Premium Pack",
                "usd_amount": 100.0,
                "base_credits": 100.0,
                "bonus_credits": 100.0,
                "total_credits": 200.0,
                "estimated_songs": 571,
            },
        ]
    }
    assert b'"usd_amount": 25.00' in resp.content


def test_custom_amount_bounds_and_bulk_bonus():
    with pytest.raises(AmountOutOfRange):
        services.quote(custom_amount_usd=Decimal("4.99"))
    with pytest.raises(AmountOutOfRange):
        services.quote(custom_amount_usd=Decimal("1000.01"))
    small = services.quote(custom_amount_usd=Decimal("199.99"))
    big = services.quote(custom_amount_usd=Decimal("200.00"))
    assert (small.base_credits, small.bonus_credits) == (19999, 0)
    assert (big.base_credits, big.bonus_credits) == (20000, 2000)


@hsettings(max_examples=60, deadline=None)
@given(cents=st.integers(min_value=500, max_value=100000))
def test_custom_quote_never_gives_more_than_the_tier_allows(cents):
    q = services.quote(custom_amount_usd=Decimal(cents) / 100)
    assert q.base_credits == cents  # 1 USD = 1 credit, both in hundredths
    expected_percent = 10 if cents >= 20000 else 0
    assert 0 <= q.bonus_credits <= q.base_credits * expected_percent // 100
    assert q.base_credits * expected_percent / 100 - q.bonus_credits < 1


def test_daily_limit_refuses_the_purchase_that_passes_it(cp_settings, rsps):
    cp_settings.PAYMENTS_DAILY_LIMIT_USD = "120"
    user = UserFactory()
    make_payment(rsps, user, txn_id="A", package="Popular Pack")
    make_payment(rsps, user, txn_id="B", package="Popular Pack")
    with pytest.raises(PurchaseLimitReached) as exc:
        services.coinpayments_checkout(user=user, quote=services.quote(package_id=credit_package().pk), coin="BTC")
    assert exc.value.extra["remaining_usd"] == Decimal("20.00")


def test_fund_helper_still_works():
    user = UserFactory()
    fund(user, "1.00")
    assert balance_for_user(user_id=user.pk).balance == 100


def test_refund_takes_back_only_unspent_paid_credits_not_promotional_ones(cp_settings, rsps, client):
    """Earned credits make the balance look big enough, but the paid credits were spent: refused."""
    payment = completed_payment(rsps, client)
    user_account = wallet.user_account(user_id=payment.user.pk)
    spent = payment.bonus_credits + 500  # the bonus first (spend order), then 500 of the paid credits
    wallet.transfer_post(
        from_account=user_account,
        to_account=wallet.system_account(name=SystemAccount.REVENUE),
        amount=spent,
        kind=TransferKind.DOWNLOAD,
        idempotency_key="spend-bonus-and-some-paid",
    )
    wallet.transfer_post(
        from_account=wallet.system_account(name=SystemAccount.REWARDS_POOL),
        to_account=user_account,
        amount=payment.bonus_credits + 5000,
        kind=TransferKind.EARN,
        idempotency_key="earn-plenty",
    )
    balance = balance_for_user(user_id=payment.user.pk)
    assert balance.available >= payment.base_credits + payment.bonus_credits  # enough in total...
    maker, checker = staff(*REFUND_MAKER), staff(*REFUND_CHECKER)
    req = services.refund_request(payment_id=payment.pk, requested_by_id=maker.pk, reason="Chargeback")
    with pytest.raises(RefundShortfall) as exc:
        services.refund_approve(request_id=req.pk, approver_id=checker.pk)
    # ...but 500 paid and the whole bonus are gone from their categories.
    assert exc.value.shortfall == 500 + payment.bonus_credits
    assert balance_for_user(user_id=payment.user.pk).balance == balance.balance
