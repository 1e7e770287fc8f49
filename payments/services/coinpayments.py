"""CoinPayments: checkout (create the provider's transaction), IPNs and poll answers.

No outbound HTTP call is made while a payment row is locked: the provider is called before the
transaction opens. Every message is stored raw with its verification result first, then applied
under the payment's lock; the state machine only moves forward, so duplicates and out-of-order
messages are harmless.
"""

import datetime as dt
import json
import logging
import secrets
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from django.conf import settings
from django.db import IntegrityError, OperationalError, transaction
from django.urls import reverse
from django.utils import timezone

from accounts.models import User

from ..errors import (
    KeyInProgress,
    KeyReused,
    MalformedMessage,
    ProviderFailed,
    ProviderNotConfigured,
    TransientFailure,
    UnsupportedCoin,
)
from ..models import Payment, PaymentStatus, Provider, ProviderMessage
from ..providers import coinpayments as cp
from ._messages import digest, note_outcome, store_message
from ._state import durable, lock_payment, move, save_payment
from .completion import complete_locked
from .quotes import Quote, check_limits, payment_create

logger = logging.getLogger(__name__)

S = PaymentStatus


def coinpayments_client() -> cp.Client:
    return cp.Client()


def coinpayments_configured() -> bool:
    """Whether this site can take CoinPayments payments: API keys, merchant id and IPN secret
    (without the secret no payment could ever be confirmed)."""
    return cp.Config.from_settings().configured


def _dec(value: Any) -> Decimal | None:
    try:
        d = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        return None
    return d if d.is_finite() else None


def _decide_coinpayments(
    payment: Payment, *, status: int | None, received: Decimal | None, confirms: int
) -> tuple[PaymentStatus, str]:
    """The next status from the provider's status code AND the amounts we see.

    Status >= 100 or == 2 completes only when the received amount covers the coin amount asked
    for; < 0 expires (or marks underpaid when some funds came); anything else is pending, or
    confirming once funds are seen.
    """
    expected = _dec(payment.coin_amount)
    if status is None:
        return S(payment.status), "Unreadable provider status."
    if status >= 100 or status == 2:
        if received is None or expected is None:
            return S.NEEDS_REVIEW, "Provider reports complete, but the received amount is unknown."
        if received < expected:
            return S.NEEDS_REVIEW, f"Provider reports complete with only {received} of {expected} {payment.coin}."
        return S.COMPLETED, f"Received {received} {payment.coin} with {confirms} confirmation(s)."
    if status < 0:
        if received is not None and received > 0 and (expected is None or received < expected):
            return S.UNDERPAID, f"Only {received} of {expected} {payment.coin} arrived before the deadline."
        return S.EXPIRED, "No payment arrived before the deadline."
    if received is not None and received > 0:
        return S.CONFIRMING, f"Received {received} {payment.coin}, {confirms} confirmation(s)."
    return S.PENDING, ""


def _apply_coinpayments(
    *,
    payment_id: int,
    status: int | None,
    received: Decimal | None,
    confirms: int,
    txn_id: str,
    message_id: int | None,
) -> Payment:
    def run() -> Payment:
        payment = lock_payment(payment_id)
        if not payment.reference and txn_id:
            # The create call timed out after the provider made the transaction: adopt it.
            payment.reference = txn_id
        if received is not None:
            payment.received_amount = str(received)
        payment.confirmations = max(0, confirms)
        target, detail = _decide_coinpayments(payment, status=status, received=received, confirms=confirms)
        if target == S.COMPLETED:
            credited = complete_locked(payment, detail=detail)
            outcome = "credited" if credited else f"no change ({payment.status})"
        else:
            moved = move(payment, target, detail)
            save_payment(payment)
            outcome = f"{payment.status}" if moved else f"no change ({payment.status})"
        note_outcome(message_id, outcome)
        return payment

    return durable(run)


@dataclass
class IpnResult:
    accepted: bool
    reason: str = ""
    payment_id: int | None = None


def verify_ipn(config: cp.Config, ipn: cp.Ipn, body: bytes, header: str) -> tuple[str, Payment | None]:
    """'' when the IPN is genuine and matches its payment, else the reason it is refused."""
    if not config.ipn_secret:
        return "The IPN secret is not configured.", None
    if not cp.verify_ipn_signature(secret=config.ipn_secret, body=body, header=header):
        return "HMAC signature does not match.", None
    if ipn.get("ipn_mode") != "hmac":
        return "ipn_mode is not hmac.", None
    if not secrets.compare_digest(ipn.get("merchant").encode(), config.merchant_id.encode()):
        return "Merchant id does not match.", None
    invoice = ipn.get("invoice")
    payment = (
        Payment.objects.filter(pk=int(invoice), provider=Provider.COINPAYMENTS).first()
        if invoice.isdigit() and len(invoice) < 19
        else None
    )
    if payment is None:
        return f"Unknown invoice {invoice[:40]!r}.", None
    if payment.reference and ipn.get("txn_id") != payment.reference:
        return "txn_id does not match the payment.", payment
    if ipn.get("currency1").upper() != "USD":
        return "currency1 does not match the payment.", payment
    amount1 = _dec(ipn.get("amount1"))
    if amount1 is None or amount1 != payment.usd_amount:
        return "amount1 does not match the payment.", payment
    if ipn.status is None:
        return "status is not a number.", payment
    return "", payment


def coinpayments_ipn_receive(*, body: bytes, hmac_header: str, headers: dict[str, str] | None = None) -> IpnResult:
    """Verify, store and apply one IPN.

    Steps: verify (HMAC over the raw body, constant time; ipn_mode; merchant; invoice,
    currency1, amount1 and txn_id against the payment); store the raw message with the result
    (a genuine one under its ipn_id, a refused one under a digest); apply it to the payment
    (duplicates and out-of-order messages are harmless: the state machine only moves forward).
    Raises MalformedMessage (400: not UTF-8, a NUL; nothing stored), TransientFailure when the
    database fails in a way a retry may fix.
    """
    config = cp.Config.from_settings()
    try:
        ipn = cp.parse_ipn(body)
    except cp.MalformedIpn as exc:
        logger.warning("CoinPayments IPN refused unread: %s (%s bytes)", exc, len(body))
        raise MalformedMessage(str(exc)) from None
    error, payment = verify_ipn(config, ipn, body, hmac_header)
    text = body.decode("utf-8", errors="replace")
    try:
        if error:
            logger.warning("CoinPayments IPN refused: %s (invoice %r)", error, ipn.get("invoice")[:40])
            store_message(
                provider=Provider.COINPAYMENTS,
                message_id="unverified:" + digest(body, hmac_header),
                kind=ProviderMessage.Kind.IPN,
                payment_id=payment.pk if payment else None,
                body=text,
                headers=headers,
                verified=False,
                error=error,
            )
            return IpnResult(False, error, payment.pk if payment else None)
        assert payment is not None
        message_id = ipn.get("ipn_id") or "body:" + digest(body)
        msg, _ = store_message(
            provider=Provider.COINPAYMENTS,
            message_id=message_id,
            kind=ProviderMessage.Kind.IPN,
            payment_id=payment.pk,
            body=text,
            headers=headers,
            verified=True,
        )
        apply_ipn_fields(payment_id=payment.pk, ipn=ipn, message_id=msg.pk)
    except OperationalError as exc:
        raise TransientFailure("Database unavailable.") from exc
    return IpnResult(True, "", payment.pk)


def apply_ipn_fields(*, payment_id: int, ipn: cp.Ipn, message_id: int | None) -> Payment:
    confirms = ipn.get("received_confirms")
    return _apply_coinpayments(
        payment_id=payment_id,
        status=ipn.status,
        received=_dec(ipn.get("received_amount")) if ipn.get("received_amount") != "" else None,
        confirms=int(confirms) if confirms.isdigit() else 0,
        txn_id=ipn.get("txn_id"),
        message_id=message_id,
    )


def apply_poll_result(*, payment_id: int, txn_id: str, info: dict[str, Any]) -> Payment:
    raw = json.dumps(info, sort_keys=True, default=str)
    msg, _ = store_message(
        provider=Provider.COINPAYMENTS,
        message_id=f"poll:{txn_id}:{digest(raw)[:40]}",
        kind=ProviderMessage.Kind.POLL,
        payment_id=payment_id,
        body=raw,
        headers={},
        verified=True,
    )
    try:
        status: int | None = int(str(info.get("status")))
    except ValueError:
        status = None
    confirms = str(info.get("recv_confirms", "0"))
    return _apply_coinpayments(
        payment_id=payment_id,
        status=status,
        received=_dec(info.get("receivedf")) if "receivedf" in info else None,
        confirms=int(confirms) if confirms.isdigit() else 0,
        txn_id=txn_id,
        message_id=msg.pk,
    )


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


def _checkout_replay(earlier: Payment, *, quote: Quote, coin: str) -> Payment:
    """The payment an earlier checkout with the same key made, or why it cannot be returned."""
    asked = (quote.package.pk if quote.package else None, quote.usd_cents, coin)
    if (earlier.package_id, earlier.usd_cents, earlier.coin) != asked:
        raise KeyReused("This Idempotency-Key was used for a different checkout.", payment_id=earlier.pk)
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
    if coin not in settings.COINPAYMENTS_ACCEPTED_COINS:
        raise UnsupportedCoin(
            f"{coin!r} is not accepted. Choose one of: {', '.join(settings.COINPAYMENTS_ACCEPTED_COINS)}.",
            accepted=list(settings.COINPAYMENTS_ACCEPTED_COINS),
        )
    client = client or coinpayments_client()
    if not client.config.configured:
        raise ProviderNotConfigured(
            "Crypto payments through CoinPayments are not available on this site right now. "
            "Please choose another payment method."
        )
    key = CHECKOUT_SCOPE + idempotency_key if idempotency_key else None
    if key is not None:
        earlier = Payment.objects.filter(user=user, idempotency_key=key).first()
        if earlier is not None:
            return _checkout_replay(earlier, quote=quote, coin=coin)
    now = timezone.now()
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
            raise ProviderFailed(f"CoinPayments refused the payment: {exc}", payment_id=payment.pk) from exc
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
