"""E9th claim bookkeeping: the payment rows and stored receipts of chain deposits (no chain
calls here; `e9th` reads the chain and calls these)."""

import json
from decimal import Decimal

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from accounts.models import User

from ..errors import HashClaimed, KeyReused
from ..models import Payment, PaymentStatus, Provider, ProviderMessage
from ..providers import e9th
from ._messages import digest, store_message
from ._state import lock_payment, move, save_payment
from .quotes import Quote, payment_create

S = PaymentStatus


def token_units_for(usd_cents: int, decimals: int) -> int:
    """The stablecoin is pegged 1:1 to USD: the package price in the token's smallest units."""
    return int(Decimal(usd_cents).scaleb(decimals - 2).to_integral_value(rounding="ROUND_CEILING"))


def mark_open(
    payment_id: int,
    status: PaymentStatus,
    detail: str,
    *,
    block_hash: str | None = None,
    confirmations: int | None = None,
    block_number: int | None = None,
) -> Payment:
    """Record what the chain shows on a claim not credited yet (a completed one is left alone;
    `move` ignores a backward step)."""
    with transaction.atomic():
        locked = lock_payment(payment_id)
        if locked.status != S.COMPLETED:
            if block_number is not None:
                locked.block_number = block_number
            if block_hash is not None:
                locked.block_hash = block_hash
            if confirmations is not None:
                locked.confirmations = confirmations
            move(locked, status, detail)
            save_payment(locked)
    return locked


def store_receipt_message(
    tx: str, receipt: e9th.Receipt, payment: Payment | None, *, verified: bool, error: str = ""
) -> None:
    body = json.dumps(
        {
            "tx_hash": tx,
            "status": receipt.status,
            "block_number": receipt.block_number,
            "block_hash": receipt.block_hash,
            "logs": receipt.logs,
        },
        sort_keys=True,
        default=str,
    )
    prefix = "" if verified else "unverified:"
    store_message(
        provider=Provider.E9TH,
        message_id=f"{prefix}receipt:{tx}:{receipt.block_hash}"[:160] if verified else prefix + digest(body),
        kind=ProviderMessage.Kind.RECEIPT,
        payment_id=payment.pk if payment else None,
        body=body,
        headers={},
        verified=verified,
        error=error,
    )


def create_chain_claim(
    *, user: User, tx: str, address: str, quote_: Quote, decimals: int, key: str | None = None
) -> Payment:
    try:
        with transaction.atomic():
            return payment_create(
                user=user,
                quote=quote_,
                provider=Provider.E9TH,
                reference=tx,
                coin="E9TH",
                coin_amount=str(Decimal(token_units_for(quote_.usd_cents, decimals)).scaleb(-decimals)),
                address=settings.E9TH_DEPOSIT_ADDRESS,
                confirms_needed=settings.E9TH_MIN_CONFIRMATIONS,
                wallet_address=address,
                idempotency_key=key,
            )
    except IntegrityError:
        winner = Payment.objects.filter(provider=Provider.E9TH, reference=tx).first()
        if winner is not None and winner.user_id == user.pk:
            return winner
        if key is not None and Payment.objects.filter(user=user, idempotency_key=key).exists():
            raise KeyReused(_("This Idempotency-Key was used to claim another deposit.")) from None
        raise HashClaimed(_("This transaction was already claimed by another account.")) from None


def release_claim(payment_id: int, reason: str) -> None:
    """A claim that turned out invalid stops reserving its hash (the real owner may claim it)."""
    with transaction.atomic():
        payment = lock_payment(payment_id)
        if payment.status in (S.COMPLETED, S.REFUNDED):
            return
        move(payment, S.FAILED, reason)
        if payment.reference:
            payment.rejected_reference = payment.reference
            payment.reference = None
        payment.idempotency_key = None  # a rejected claim holds no key either: a retry re-checks
        save_payment(payment)


def hold_for_review(payment_id: int, reason: str) -> Payment:
    """Stop polling a claim and flag it for staff (nothing is credited)."""
    with transaction.atomic():
        payment = lock_payment(payment_id)
        if move(payment, S.NEEDS_REVIEW, reason):
            payment.flagged_for_review = True
            save_payment(payment)
    return payment
