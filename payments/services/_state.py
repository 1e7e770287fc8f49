"""The payment state machine's primitives, shared by every service module of the package.

Lock order: the payment row first (`lock_payment`), then the wallet's accounts (wallet.services
locks those). Status moves go through `move`, which only goes forward (`Payment.TRANSITIONS`).
"""

import logging
from collections.abc import Callable
from typing import TypeVar

from django.db import OperationalError, transaction
from django.utils.translation import gettext as _

from core.events import Event, record

from ..errors import TransientFailure
from ..models import Payment, PaymentStatus

logger = logging.getLogger(__name__)

T = TypeVar("T")

PAYMENT_MUTABLE = [
    "reference",
    "status",
    "status_detail",
    "coin_amount",
    "received_amount",
    "address",
    "confirms_needed",
    "confirmations",
    "checkout_url",
    "status_url",
    "qrcode_url",
    "block_number",
    "block_hash",
    "rejected_reference",
    "flagged_for_review",
    "excess_amount",
    "expires_at",
    "completed_at",
    "idempotency_key",
    "updated_at",
]


def move(payment: Payment, status: PaymentStatus, detail: str = "") -> bool:
    """Move a locked payment forward; a backwards or sideways move is ignored (and logged)."""
    if payment.status == status:
        if detail:
            payment.status_detail = detail[:255]
        return False
    if not payment.can_move_to(status):
        logger.info("Payment #%s: ignoring %s → %s (forward only)", payment.pk, payment.status, status)
        return False
    logger.info("Payment #%s: %s → %s %s", payment.pk, payment.status, status, detail)
    payment.status = status
    payment.status_detail = detail[:255]
    if status == PaymentStatus.NEEDS_REVIEW:
        record(Event.PAYMENT_NEEDS_REVIEW, {"payment_id": payment.pk, "user_id": payment.user_id, "detail": detail})
    return True


def save_payment(payment: Payment) -> None:
    payment.save(update_fields=PAYMENT_MUTABLE)


def lock_payment(payment_id: int) -> Payment:
    # The payment row is the first lock every money path takes (then the wallet's accounts).
    return Payment.objects.select_for_update(no_key=True).select_related("user").get(pk=payment_id)


def durable(fn: Callable[[], T]) -> T:
    """Run `fn` in a durable transaction; lock timeouts and serialisation failures become
    TransientFailure (the IPN view answers 503 so the provider retries)."""
    try:
        with transaction.atomic(durable=True):
            return fn()
    except OperationalError as exc:
        logger.warning("Transient database failure: %s", exc)
        raise TransientFailure(_("The payment could not be processed right now; try again.")) from exc
