"""CoinPayments: IPNs and poll answers (the checkout is in `checkout.py`).

Every message is stored raw with its verification result first, then applied under the
payment's lock; the state machine only moves forward, so duplicates and out-of-order messages
are harmless.
"""

import json
import logging
import secrets
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from django.db import OperationalError

from ..errors import MalformedMessage, TransientFailure
from ..models import Payment, PaymentStatus, Provider, ProviderMessage
from ..providers import coinpayments as cp
from ._messages import digest, note_outcome, store_message
from ._state import durable, lock_payment, move, save_payment
from .completion import complete_locked

logger = logging.getLogger(__name__)

S = PaymentStatus


def coinpayments_client(*, budget: float | None = None) -> cp.Client:
    """A client; `budget` caps the seconds all its calls may take together (a member's request)."""
    return cp.Client(budget=budget)


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
        if received > expected:
            return S.COMPLETED, f"Overpaid: received {received} of {expected} {payment.coin}; flagged for review."
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
            _flag_overpayment(payment, received=received)
            credited = complete_locked(payment, detail=detail)
            outcome = "credited" if credited else f"no change ({payment.status})"
        else:
            moved = move(payment, target, detail)
            save_payment(payment)
            outcome = f"{payment.status}" if moved else f"no change ({payment.status})"
        note_outcome(message_id, outcome)
        return payment

    return durable(run)


def _flag_overpayment(payment: Payment, *, received: Decimal | None) -> None:
    """An overpayment credits the package (the buyer did pay for it) and is flagged for staff,
    who settle the excess with the buyer; it is never silently kept."""
    expected = _dec(payment.coin_amount)
    if payment.status != S.COMPLETED and received is not None and expected is not None and received > expected:
        payment.flagged_for_review = True
        payment.excess_amount = str(received - expected)
        logger.warning("Payment #%s: overpaid by %s %s, flagged", payment.pk, payment.excess_amount, payment.coin)


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
    if ipn.get("currency2").upper() != payment.coin.upper():
        # Paid in another coin than the one priced: the amounts mean nothing for this payment.
        return "currency2 does not match the payment's coin.", payment
    amount1 = _dec(ipn.get("amount1"))
    if amount1 is None or amount1 != payment.usd_amount:
        return "amount1 does not match the payment.", payment
    if ipn.status is None:
        return "status is not a number.", payment
    return "", payment


def coinpayments_ipn_receive(*, body: bytes, hmac_header: str, headers: dict[str, str] | None = None) -> IpnResult:
    """Verify, store and apply one IPN.

    Steps: verify (HMAC over the raw body, constant time; ipn_mode; merchant; invoice,
    currency1, currency2, amount1 and txn_id against the payment); store the raw message with the result
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
