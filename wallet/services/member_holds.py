"""Putting a member on hold for review and clearing them (issue 13; see `wallet/member_holds.py`).

What a hold does to money in flight, decided here once for every caller:

- new spends, reservations, store redemptions, bounty postings and transfers to others are
  refused (AccountOnHold), and so is a bounty payout from escrow that the member funded;
- a reservation (wallet hold) made before the member was put on hold may still be captured into
  a system account (a download already being delivered is charged) or released; it is never
  captured into another member's account while the hold lasts;
- refunds of the member's purchases (reversals of purchase and bonus transfers) wait: a pending
  refund request stays pending until the member is cleared;
- staff adjustments (maker-checker), expiries and claw-backs of awards still post: staff must be
  able to correct a held account;
- incoming credits (purchases being confirmed, awards, refunds of their own spends) still arrive.

The state lives on the member's accounts (`Account.frozen`) so every debit checks it under the
row lock it already takes for the funds check: a spend that waited for that lock re-reads the
row after a hold commits and is refused; one that committed first happened before the hold.
"""

import logging

from django.db import transaction
from django.utils.translation import gettext as _

from core.approvals import require_staff_perm

from ..errors import MemberHoldError
from ..models import Account, MemberHold, MemberHoldAction
from ._common import _lock_user_accounts, user_account

logger = logging.getLogger(__name__)

REVIEW_PERM = "wallet.review_fraud"


def member_hold(*, user_id: int, reason: str, staff_id: int, signal: str = "") -> MemberHold:
    """Put a member on hold: freeze what leaves their wallet until `member_clear`.

    Raises MemberHoldError (no reason, staff lacks `wallet.review_fraud`, staff's own account,
    already on hold).
    """
    return _decide(user_id=user_id, reason=reason, staff_id=staff_id, signal=signal, action=MemberHoldAction.HOLD)


def member_clear(*, user_id: int, reason: str, staff_id: int, signal: str = "") -> MemberHold:
    """Lift a member's hold. Raises MemberHoldError as `member_hold` does (not on hold)."""
    return _decide(user_id=user_id, reason=reason, staff_id=staff_id, signal=signal, action=MemberHoldAction.CLEAR)


def _decide(*, user_id: int, reason: str, staff_id: int, signal: str, action: MemberHoldAction) -> MemberHold:
    reason = reason.strip()
    if not reason:
        raise MemberHoldError(_("Give a reason: it is kept in the member's hold history."), status=400)
    what = _("put a member on hold") if action == MemberHoldAction.HOLD else _("clear a member's hold")
    require_staff_perm(user_id=staff_id, perm=REVIEW_PERM, action=what, error=MemberHoldError)
    if staff_id == user_id:
        raise MemberHoldError(_("Staff cannot hold or clear their own account."), status=403)
    user_account(user_id=user_id)  # a member with no wallet yet gets one, so the hold has a row to live on
    hold = action == MemberHoldAction.HOLD
    with transaction.atomic():
        ids = list(Account.objects.filter(user_id=user_id).values_list("pk", flat=True))
        rows = _lock_user_accounts(ids)  # the same locks every debit of these accounts takes
        if any(row.frozen for row in rows.values()) == hold:
            raise MemberHoldError(_("This member is already on hold.") if hold else _("This member is not on hold."))
        Account.objects.filter(pk__in=list(rows)).update(frozen=hold)
        entry = MemberHold.objects.create(
            user_id=user_id, action=action, reason=reason, signal=signal[:200], created_by_id=staff_id
        )
    logger.info("Member #%s: %s by staff #%s (%s)", user_id, action, staff_id, signal or "no signal")
    return entry
