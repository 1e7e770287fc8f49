"""CoinPayments checkout: create the provider's transaction for a new payment, once.

No outbound HTTP call is made while a payment row is locked: the provider is called before the
transaction that stores its answer opens. The member's request has a time budget
(COINPAYMENTS_CHECKOUT_BUDGET_SECONDS) for every provider call together, so it ends before the
web server would kill it. A client's Idempotency-Key is kept on the payment (unique per member).
"""

import datetime as dt
import logging
import time
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import User

from .. import selectors
from ..errors import KeyInProgress, KeyReused, ProviderFailed, ProviderNotConfigured, UnsupportedCoin
from ..models import Payment, PaymentStatus, Provider
from ..providers import coinpayments as cp
from ._state import lock_payment, move, save_payment
from .coinpayments import coinpayments_client
from .quotes import Quote, check_limits, payment_create

logger = logging.getLogger(__name__)

S = PaymentStatus


def _fail(payment_id: int, reason: str) -> None:
    """Fail a checkout that made nothing at the provider, and free its Idempotency-Key: the
    client's retry with that key is a new attempt, not the failure again."""
    with transaction.atomic():
        payment = lock_payment(payment_id)
        if move(payment, S.FAILED, reason):
            payment.idempotency_key = None
            save_payment(payment)


def _fill_from_create(payment: Payment, result: dict[str, Any], now: datetime) -> None:
    payment.reference = str(result.get("txn_id") or "")[:128] or None
    payment.coin_amount = str(result.get("amount", ""))[:64]
    payment.address = str(result.get("address", ""))[:255]
    try:
        payment.confirms_needed = int(str(result.get("confirms_needed", "0")))
    except ValueError:
        payment.confirms_needed = 0
    try:
        timeout = int(str(result.get("timeout", 0)))
    except ValueError:
        timeout = 0
    payment.expires_at = now + timedelta(seconds=timeout or 3600)
    payment.checkout_url = str(result.get("checkout_url", ""))[:500]
    payment.status_url = str(result.get("status_url", ""))[:500]
    payment.qrcode_url = str(result.get("qrcode_url", ""))[:500]


def _fill_from_info(payment: Payment, info: dict[str, Any], now: datetime) -> None:
    payment.coin_amount = str(info.get("amountf", ""))[:64]
    payment.address = str(info.get("payment_address", ""))[:255]
    try:
        payment.expires_at = datetime.fromtimestamp(int(str(info.get("time_expires"))), tz=dt.UTC)
    except (ValueError, OverflowError):
        payment.expires_at = now + timedelta(hours=1)


CHECKOUT_SCOPE = "checkout:"


def _abandoned(payment: Payment, now: datetime) -> bool:
    """A checkout still without the provider's answer long after its request had to end (the
    process died mid-call): its key may start again. A transaction the provider did make for it
    still credits if paid (its IPN names the invoice; failed payments reopen)."""
    limit = timedelta(seconds=2 * settings.COINPAYMENTS_CHECKOUT_BUDGET_SECONDS)
    return payment.reference is None and payment.status == S.PENDING and payment.created_at < now - limit


def _checkout_replay(earlier: Payment, *, quote: Quote, coin: str) -> Payment:
    """The payment an earlier checkout with the same key made, or why it cannot be returned."""
    asked = (quote.package.pk if quote.package else None, quote.usd_cents, coin)
    if (earlier.package_id, earlier.usd_cents, earlier.coin) != asked:
        raise KeyReused(_("This Idempotency-Key was used for a different checkout."), payment_id=earlier.pk)
    if earlier.reference is None:
        raise KeyInProgress(payment_id=earlier.pk)
    return earlier


def coinpayments_checkout(
    *, user: User, quote: Quote, coin: str, client: cp.Client | None = None, idempotency_key: str | None = None
) -> Payment:
    """Create a payment and its CoinPayments transaction.

    Steps: check the coin; return the payment an earlier checkout with the same idempotency key
    made; check the user's limits; save the payment (pending, no reference yet, unique per
    member and key) so its id can be the invoice; call create_transaction outside any lock;
    store the answer. After an ambiguous failure (read timeout, 5xx) we first look the invoice
    up, and only create again when the provider has no transaction for it: one payment, one
    provider transaction. On a refusal or outage the payment is marked failed with the
    provider's message (and its key freed for a retry).
    Raises UnsupportedCoin, ProviderNotConfigured, PurchaseLimitReached, ProviderFailed,
    KeyReused (a different checkout had the key), KeyInProgress (its provider call is still out).
    """
    accepted = selectors.accepted_coins()
    if coin not in accepted:
        raise UnsupportedCoin(
            _("%(coin)s is not accepted. Choose one of: %(accepted)s.")
            % {"coin": repr(coin), "accepted": ", ".join(accepted)},
            accepted=accepted,
        )
    client = client or coinpayments_client(budget=settings.COINPAYMENTS_CHECKOUT_BUDGET_SECONDS)
    if not client.config.configured:
        raise ProviderNotConfigured(
            "Crypto payments through CoinPayments are not available on this site right now. "
            "Please choose another payment method."
        )
    key = CHECKOUT_SCOPE + idempotency_key if idempotency_key else None
    now = timezone.now()
    earlier = Payment.objects.filter(user=user, idempotency_key=key).first() if key else None
    if earlier is not None:
        if not _abandoned(earlier, now):
            return _checkout_replay(earlier, quote=quote, coin=coin)
        _fail(earlier.pk, "Abandoned: the checkout never got CoinPayments' answer.")
    check_limits(user_id=user.pk, usd_cents=quote.usd_cents, now=now)
    try:
        with transaction.atomic():
            payment = payment_create(
                user=user, quote=quote, provider=Provider.COINPAYMENTS, coin=coin, idempotency_key=key
            )
    except IntegrityError:
        # A concurrent checkout with the same key saved its payment first: that one is ours.
        winner = Payment.objects.filter(user=user, idempotency_key=key).first() if key else None
        if winner is None:
            raise
        return _checkout_replay(winner, quote=quote, coin=coin)
    started = int(time.time()) - 120
    params = {
        "amount": str(payment.usd_amount),
        "currency1": "USD",
        "currency2": coin,
        "buyer_email": user.email,
        "invoice": str(payment.pk),
        "ipn_url": settings.SITE_URL + reverse("payments:coinpayments_ipn"),
        "item_name": f"{settings.GOLDBOOK_SITE_NAME}: {quote.name}",
    }
    result, adopted = _create_or_adopt(client, payment, params=params, started=started)
    with transaction.atomic():
        payment = lock_payment(payment.pk)
        if result is not None:
            _fill_from_create(payment, result, now)
        elif adopted is not None:
            payment.reference = adopted[0]
            _fill_from_info(payment, adopted[1], now)
        save_payment(payment)
    logger.info(
        "Payment #%s: CoinPayments transaction %s for %s %s", payment.pk, payment.reference, payment.coin_amount, coin
    )
    return payment


Created = dict[str, Any]
Adopted = tuple[str, dict[str, Any]]


def _create_or_adopt(
    client: cp.Client, payment: Payment, *, params: dict[str, str], started: int
) -> tuple[Created | None, Adopted | None]:
    """Create the provider's transaction, at most twice: (create_transaction's answer, None), or
    (None, (txn_id, info)) when an ambiguous failure turned out to have made one. Marks the payment
    failed and raises ProviderFailed on a refusal or when the provider cannot be reached."""
    for attempt in (1, 2):
        try:
            return client.create_transaction(**params), None
        except cp.CoinPaymentsError as exc:
            _fail(payment.pk, f"CoinPayments: {exc}")
            raise ProviderFailed(
                _("CoinPayments refused the payment: %(reason)s") % {"reason": exc}, payment_id=payment.pk
            ) from exc
        except cp.CoinPaymentsUnavailable as exc:
            if exc.ambiguous:
                try:
                    adopted = client.find_transaction_by_invoice(invoice=str(payment.pk), newer=started)
                except (cp.CoinPaymentsError, cp.CoinPaymentsUnavailable):
                    adopted = None
                    attempt = 2  # cannot tell whether it got through: never risk a second one
                if adopted:
                    return None, adopted
            if attempt == 2:
                _fail(payment.pk, f"CoinPayments unavailable: {exc}")
                raise ProviderFailed(
                    "CoinPayments is not answering right now; no payment was made. Please try again in a minute.",
                    payment_id=payment.pk,
                ) from exc
            logger.info(
                "Payment #%s: create attempt %s failed (%s); provider has none, retrying", payment.pk, attempt, exc
            )
    raise AssertionError("unreachable: the second attempt returns or raises")
