"""Refunds, maker-checker: one staff member requests, a different one approves or rejects.

Approval reverses the purchase and bonus transfers (wallet.transfer_reverse) while the credits
are unspent; otherwise nothing moves and the shortfall is reported. Each reversal takes back from
the category its transfer credited: the purchase only from unspent paid credits, the bonus from
bonus credits, so promotional credits never pay for a refund of money.
"""

from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from core.approvals import lock_undecided, record_decision, require_staff_perm
from wallet import services as wallet
from wallet.errors import AccountOnHold, InsufficientFunds
from wallet.models import Transfer
from wallet.selectors import balance_for_user, default_currency, reversible_amount

from ..errors import RefundNotAllowed, RefundShortfall
from ..models import Payment, PaymentStatus, RefundRequest, RefundStatus
from ._state import durable, lock_payment, move, save_payment

S = PaymentStatus
# Maker-checker (core.approvals, as wallet adjustments): the permissions are checked here, so
# every caller (the admin, a shell) gets the rule.
REQUEST = "payments.request_refund"
APPROVE = "payments.approve_refund"


def refund_request(*, payment_id: int, requested_by_id: int, reason: str) -> RefundRequest:
    if not reason.strip():
        raise RefundNotAllowed(_("A refund needs a reason."))
    require_staff_perm(user_id=requested_by_id, perm=REQUEST, action="request a refund", error=RefundNotAllowed)
    payment = Payment.objects.get(pk=payment_id)
    if payment.status != S.COMPLETED:
        raise RefundNotAllowed(
            _("Payment #%(id)s is %(status)s; only completed payments are refunded.")
            % {"id": payment.pk, "status": payment.get_status_display()}
        )
    try:
        with transaction.atomic():
            return RefundRequest.objects.create(payment=payment, reason=reason.strip(), requested_by_id=requested_by_id)
    except IntegrityError:
        raise RefundNotAllowed(
            _("Payment #%(id)s already has a refund awaiting approval.") % {"id": payment.pk}
        ) from None


def refund_approve(*, request_id: int, approver_id: int, note: str = "") -> RefundRequest:
    """Approve a refund: reverse the purchase and bonus transfers while the credits are unspent.

    Raises RefundNotAllowed (approver lacks `payments.approve_refund`, decided already, approver
    is the requester, payment not completed) and RefundShortfall (the user has less available
    than the refund takes back; nothing moves).
    """
    require_staff_perm(user_id=approver_id, perm=APPROVE, action="approve a refund", error=RefundNotAllowed)

    def run() -> RefundRequest:
        pending = RefundRequest.objects.get(pk=request_id)
        payment = lock_payment(pending.payment_id)  # the payment row first: the global lock order
        req = _lock_undecided(request_id, decider_id=approver_id)
        if payment.status != S.COMPLETED:
            raise RefundNotAllowed(
                _("Payment #%(id)s is %(status)s.") % {"id": payment.pk, "status": payment.get_status_display()}
            )
        _reverse_purchase(payment, approver_id=approver_id)
        move(payment, S.REFUNDED, f"Refunded (request #{req.pk}).")
        save_payment(payment)
        record_decision(req, RefundStatus.APPROVED, decider_id=approver_id, note=note)
        return req

    return durable(run)


def refund_reject(*, request_id: int, approver_id: int, note: str = "") -> RefundRequest:
    require_staff_perm(user_id=approver_id, perm=APPROVE, action="reject a refund", error=RefundNotAllowed)
    with transaction.atomic():
        req = _lock_undecided(request_id, decider_id=approver_id)
        record_decision(req, RefundStatus.REJECTED, decider_id=approver_id, note=note)
    return req


def _lock_undecided(request_id: int, *, decider_id: int) -> RefundRequest:
    return lock_undecided(
        RefundRequest, request_id=request_id, decider_id=decider_id, what="Refund", error=RefundNotAllowed
    )


def _reverse_purchase(payment: Payment, *, approver_id: int) -> None:
    """Reverse the purchase and bonus transfers, or raise RefundShortfall with nothing moved."""
    transfers = list(
        Transfer.objects.filter(
            idempotency_key__in=[f"payment:{payment.pk}:purchase", f"payment:{payment.pk}:bonus"]
        ).order_by("pk")
    )
    needed = sum(t.amount for t in transfers)
    # Unspent in each transfer's own category (paid for the purchase, bonus for the bonus), and
    # never more than the balance leaves available in all.
    unspent = sum(min(t.amount, reversible_amount(transfer=t)) for t in transfers)
    available = min(unspent, balance_for_user(user_id=payment.user_id).available)
    currency = default_currency()
    if available < needed:
        raise RefundShortfall(
            f"The user has {currency.to_decimal(available)} available but the refund takes back "
            f"{currency.to_decimal(needed)}: {currency.to_decimal(needed - available)} short.",
            shortfall=needed - available,
        )
    try:
        for transfer in transfers:
            wallet.transfer_reverse(
                transfer=transfer, memo=f"Refund of payment #{payment.pk}", created_by_id=approver_id
            )
    except AccountOnHold:
        raise RefundNotAllowed(
            _("The member is on hold for review: the refund waits until staff clear them.")
        ) from None
    except InsufficientFunds as exc:
        raise RefundShortfall(
            f"The user no longer has the credits: {currency.to_decimal(exc.needed)} short.", shortfall=exc.needed
        ) from exc
