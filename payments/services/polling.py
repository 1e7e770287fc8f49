"""The poller's pass over open payments, and re-processing a stored provider message (admin).

Each payment is applied in its own short transaction; a provider outage skips the batch and the
next pass (beat, every minute) tries again.
"""

import json
import logging
from dataclasses import dataclass, field
from datetime import datetime

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from .. import selectors
from ..errors import ChainUnavailable, TransientFailure
from ..models import Payment, PaymentStatus, ProviderMessage
from ..providers import coinpayments as cp
from ._messages import note_outcome
from ._state import lock_payment, move, save_payment
from .coinpayments import apply_ipn_fields, apply_poll_result, coinpayments_client, verify_ipn
from .e9th import ChainStatus, e9th_recheck

logger = logging.getLogger(__name__)

S = PaymentStatus


@dataclass
class PollReport:
    checked: int = 0
    provider_calls: int = 0
    updated: int = 0
    expired: int = 0
    chain_checked: int = 0
    errors: list[str] = field(default_factory=list)


def poll_payments(*, now: datetime | None = None, client: cp.Client | None = None) -> PollReport:
    """One pass of the poller: ask CoinPayments about every open payment (get_tx_info_multi, at
    most 25 ids per call), re-check pending chain deposits, then expire what is past its deadline.
    Each payment is applied in its own short transaction; a provider outage skips the batch."""
    report = PollReport()
    open_refs = selectors.open_coinpayments_references()
    if open_refs:
        _poll_coinpayments(open_refs, report=report, client=client or coinpayments_client())
    for payment_id in selectors.open_chain_payment_ids():
        report.chain_checked += 1
        try:
            e9th_recheck(payment_id=payment_id)
        except (ChainUnavailable, TransientFailure) as exc:
            report.errors.append(str(exc))
    for payment_id in selectors.overdue_payment_ids(now=now or timezone.now()):
        report.expired += int(_expire(payment_id, now=now or timezone.now()))
    return report


def _poll_coinpayments(open_refs: list[tuple[int, str]], *, report: PollReport, client: cp.Client) -> None:
    batch_size = max(1, min(cp.MULTI_BATCH, settings.PAYMENTS_POLL_BATCH))
    for start in range(0, len(open_refs), batch_size):
        batch = open_refs[start : start + batch_size]
        by_ref = {ref: pid for pid, ref in batch}
        report.provider_calls += 1
        try:
            answers = client.get_tx_info_multi(by_ref.keys())
        except (cp.CoinPaymentsError, cp.CoinPaymentsUnavailable) as exc:
            report.errors.append(str(exc))
            logger.warning("Poll: batch of %s skipped: %s", len(batch), exc)
            continue
        for ref, info in answers.items():
            if ref not in by_ref or info.get("error", "ok") != "ok":
                continue
            report.checked += 1
            before = Payment.objects.filter(pk=by_ref[ref]).values_list("status", flat=True).first()
            after = apply_poll_result(payment_id=by_ref[ref], txn_id=ref, info=info)
            report.updated += int(after.status != before)


def _expire(payment_id: int, *, now: datetime) -> bool:
    with transaction.atomic():
        payment = lock_payment(payment_id)
        if payment.status != S.PENDING or payment.expires_at is None or payment.expires_at >= now:
            return False
        moved = move(payment, S.EXPIRED, "No payment arrived before the deadline.")
        save_payment(payment)
        return moved


# --- re-processing a stored message (admin) ------------------------------------------------------------


def message_reprocess(*, message_id: int) -> str:
    """Apply a stored provider message again (admin action). IPNs are verified again from the
    stored raw body and headers; poll answers are re-applied; chain messages re-check the chain.
    Returns the outcome."""
    msg = ProviderMessage.objects.get(pk=message_id)
    if msg.kind == ProviderMessage.Kind.IPN:
        body = msg.body.encode()
        error, payment = verify_ipn(cp.Config.from_settings(), cp.parse_ipn(body), body, msg.headers.get("HMAC", ""))
        if error or payment is None:
            note_outcome(msg.pk, f"refused again: {error}")
            return f"refused: {error}"
        payment = apply_ipn_fields(payment_id=payment.pk, ipn=cp.parse_ipn(body), message_id=msg.pk)
        return payment.status
    if msg.kind == ProviderMessage.Kind.POLL and msg.payment_id:
        info = json.loads(msg.body)
        txn_id = msg.message_id.split(":")[1]
        payment = apply_poll_result(payment_id=msg.payment_id, txn_id=txn_id, info=info)
        return payment.status
    if msg.kind == ProviderMessage.Kind.RECEIPT and msg.payment_id:
        outcome = e9th_recheck(payment_id=msg.payment_id)
        # Nothing left to check: say where the payment stands, as for the other kinds.
        return outcome.payment.status if outcome.status is ChainStatus.CLOSED else str(outcome.status)
    return "nothing to do"
