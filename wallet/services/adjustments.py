"""Manual adjustments under maker-checker: one staff member asks, another approves."""

import logging

from django.db import transaction
from django.utils.translation import gettext as _

from core.approvals import lock_undecided, record_decision, require_staff_perm
from core.events import Event, record

from ..errors import (
    AdjustmentNotAllowed,
    InvalidAmount,
)
from ..models import (
    Account,
    AdjustmentRequest,
    AdjustmentStatus,
    SystemAccount,
    TransferKind,
)
from ._common import MAX_AMOUNT, system_account
from .transfers import transfer_post

logger = logging.getLogger(__name__)

# Maker-checker (core.approvals): enforced here, not only in the admin, so every caller of these
# services (a shell, a future API) gets the same rule.
NOT_ALLOWED = AdjustmentNotAllowed
APPROVE = "wallet.approve_adjustment"


def adjustment_request(*, account: Account, amount: int, reason: str, requested_by_id: int) -> AdjustmentRequest:
    """Record a staff request to credit (amount > 0) or debit (amount < 0) a user account.

    Nothing is posted until a different staff user approves it.
    Raises InvalidAmount, AdjustmentNotAllowed (system account, no reason, requester lacks
    `wallet.request_adjustment`).
    """
    if not isinstance(amount, int) or isinstance(amount, bool) or amount == 0 or abs(amount) > MAX_AMOUNT:
        raise InvalidAmount(_("An adjustment is a non-zero number of minor units."))
    if account.is_system:
        raise AdjustmentNotAllowed(_("Adjustments apply to user accounts."))
    if not reason.strip():
        raise AdjustmentNotAllowed(_("An adjustment needs a reason."))
    require_staff_perm(
        user_id=requested_by_id, perm="wallet.request_adjustment", action=_("request an adjustment"), error=NOT_ALLOWED
    )
    return AdjustmentRequest.objects.create(
        account=account, amount=amount, reason=reason.strip(), requested_by_id=requested_by_id
    )


def adjustment_approve(*, request_id: int, approver_id: int, note: str = "") -> AdjustmentRequest:
    """Approve a pending adjustment and post it (issuance ↔ user).

    Raises AdjustmentNotAllowed (decided already, approver is the requester or lacks
    `wallet.approve_adjustment`), InsufficientFunds for a debit larger than what the user has
    available (the request then stays pending).
    """
    require_staff_perm(user_id=approver_id, perm=APPROVE, action=_("approve an adjustment"), error=NOT_ALLOWED)
    with transaction.atomic(durable=True):
        req = lock_undecided(
            AdjustmentRequest, request_id=request_id, decider_id=approver_id, what=_("Adjustment"), error=NOT_ALLOWED
        )
        issuance = system_account(name=SystemAccount.ISSUANCE, currency=req.account.currency_id)
        source, target = (issuance, req.account) if req.amount > 0 else (req.account, issuance)
        transfer = transfer_post(
            from_account=source,
            to_account=target,
            amount=abs(req.amount),
            kind=TransferKind.ADJUSTMENT,
            idempotency_key=f"adjustment:{req.pk}",
            memo=req.reason[:255],
            cause=req,
            created_by_id=approver_id,
        )
        req.transfer = transfer
        record_decision(req, AdjustmentStatus.APPROVED, decider_id=approver_id, note=note, also=("transfer",))
        if req.account.user_id is not None:
            record(
                Event.ADJUSTMENT_APPROVED,
                {"request_id": req.pk, "user_id": req.account.user_id, "amount": req.amount, "reason": req.reason},
            )
    return req


def adjustment_reject(*, request_id: int, approver_id: int, note: str = "") -> AdjustmentRequest:
    """Reject a pending adjustment; nothing is posted. Raises AdjustmentNotAllowed as approve does."""
    require_staff_perm(user_id=approver_id, perm=APPROVE, action=_("reject an adjustment"), error=NOT_ALLOWED)
    with transaction.atomic(durable=True):
        req = lock_undecided(
            AdjustmentRequest, request_id=request_id, decider_id=approver_id, what=_("Adjustment"), error=NOT_ALLOWED
        )
        record_decision(req, AdjustmentStatus.REJECTED, decider_id=approver_id, note=note)
    return req
