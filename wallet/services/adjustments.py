"""Manual adjustments under maker-checker: one staff member asks, another approves."""

import logging

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

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


def _require_staff_perm(user_id: int, perm: str, action: str) -> None:
    """Maker-checker is enforced here, not only in the admin: any caller of these services
    (a shell, a future API) gets the same rule."""
    user = get_user_model().objects.filter(pk=user_id, is_active=True, is_staff=True).first()
    if user is None or not user.has_perm(perm):
        raise AdjustmentNotAllowed(f"Only staff with the {perm!r} permission may {action}.")


def adjustment_request(*, account: Account, amount: int, reason: str, requested_by_id: int) -> AdjustmentRequest:
    """Record a staff request to credit (amount > 0) or debit (amount < 0) a user account.

    Nothing is posted until a different staff user approves it.
    Raises InvalidAmount, AdjustmentNotAllowed (system account, no reason, requester lacks
    `wallet.request_adjustment`).
    """
    if not isinstance(amount, int) or isinstance(amount, bool) or amount == 0 or abs(amount) > MAX_AMOUNT:
        raise InvalidAmount("An adjustment is a non-zero number of minor units.")
    if account.is_system:
        raise AdjustmentNotAllowed("Adjustments apply to user accounts.")
    if not reason.strip():
        raise AdjustmentNotAllowed("An adjustment needs a reason.")
    _require_staff_perm(requested_by_id, "wallet.request_adjustment", "request an adjustment")
    return AdjustmentRequest.objects.create(
        account=account, amount=amount, reason=reason.strip(), requested_by_id=requested_by_id
    )


def adjustment_approve(*, request_id: int, approver_id: int, note: str = "") -> AdjustmentRequest:
    """Approve a pending adjustment and post it (issuance ↔ user).

    Raises AdjustmentNotAllowed (decided already, approver is the requester or lacks
    `wallet.approve_adjustment`), InsufficientFunds for a debit larger than what the user has
    available (the request then stays pending).
    """
    _require_staff_perm(approver_id, "wallet.approve_adjustment", "approve an adjustment")
    with transaction.atomic(durable=True):
        req = AdjustmentRequest.objects.select_for_update(no_key=True).select_related("account").get(pk=request_id)
        if req.status != AdjustmentStatus.REQUESTED:
            raise AdjustmentNotAllowed(f"Adjustment #{req.pk} was already {req.status}.")
        if req.requested_by_id == approver_id:
            raise AdjustmentNotAllowed("A different staff member must approve an adjustment.")
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
        req.status = AdjustmentStatus.APPROVED
        req.decided_by_id = approver_id
        req.decided_at = timezone.now()
        req.decision_note = note[:255]
        req.transfer = transfer
        req.save(update_fields=["status", "decided_by", "decided_at", "decision_note", "transfer"])
    return req


def adjustment_reject(*, request_id: int, approver_id: int, note: str = "") -> AdjustmentRequest:
    """Reject a pending adjustment; nothing is posted. Raises AdjustmentNotAllowed as approve does."""
    _require_staff_perm(approver_id, "wallet.approve_adjustment", "reject an adjustment")
    with transaction.atomic(durable=True):
        req = AdjustmentRequest.objects.select_for_update(no_key=True).get(pk=request_id)
        if req.status != AdjustmentStatus.REQUESTED:
            raise AdjustmentNotAllowed(f"Adjustment #{req.pk} was already {req.status}.")
        if req.requested_by_id == approver_id:
            raise AdjustmentNotAllowed("A different staff member must decide on an adjustment.")
        req.status = AdjustmentStatus.REJECTED
        req.decided_by_id = approver_id
        req.decided_at = timezone.now()
        req.decision_note = note[:255]
        req.save(update_fields=["status", "decided_by", "decided_at", "decision_note"])
    return req
