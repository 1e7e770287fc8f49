"""The review queue: every signal not yet reviewed with its current evidence, and the staff
decisions on them (hold the member, or clear the signal), each recorded with who and why."""

from collections.abc import Callable

from django.db import transaction
from django.utils.translation import gettext as _

from accounts.models import SignalDecision, SignalReview
from core.approvals import require_staff_perm
from wallet import services as wallet
from wallet.errors import MemberHoldError
from wallet.models import MemberHold
from wallet.services.member_holds import REVIEW_PERM

from . import deposits, farming, referrals
from .base import Signal, with_members

SIGNALS: tuple[Callable[[], list[Signal]], ...] = (
    deposits.shared_wallets,
    deposits.shared_ips,
    referrals.referral_rings,
    referrals.referral_clusters,
    deposits.deposit_velocity,
    deposits.flagged_payments,
    farming.voter_groups,
    farming.reversed_awards,
    farming.earn_then_bounty,
)


def open_signals(*, include_reviewed: bool = False) -> list[Signal]:
    """Every signal's findings, less those staff reviewed with the same evidence."""
    found = [signal for compute in SIGNALS for signal in compute()]
    if not include_reviewed and found:
        reviewed = set(SignalReview.objects.filter(key__in=[s.key for s in found]).values_list("key", "fingerprint"))
        found = [s for s in found if (s.key, s.fingerprint) not in reviewed]
    return with_members(found)


def _check(*, staff_id: int, reason: str, key: str, fingerprint: str) -> str:
    reason = reason.strip()
    if not reason:
        raise MemberHoldError(_("Give a reason: it is kept with the review."), status=400)
    if not key or len(key) > 200 or len(fingerprint) != 64:
        raise MemberHoldError(_("That signal is not in the review queue."), status=400)
    require_staff_perm(user_id=staff_id, perm=REVIEW_PERM, action=_("review fraud signals"), error=MemberHoldError)
    return reason


def signal_hold(*, key: str, fingerprint: str, user_id: int, reason: str, staff_id: int) -> MemberHold:
    """Put a member behind the signal on hold and mark the signal reviewed with this evidence."""
    reason = _check(staff_id=staff_id, reason=reason, key=key, fingerprint=fingerprint)
    with transaction.atomic():
        hold = wallet.member_hold(user_id=user_id, reason=reason, staff_id=staff_id, signal=key)
        SignalReview.objects.create(
            key=key, fingerprint=fingerprint, decision=SignalDecision.HELD, reason=reason, reviewed_by_id=staff_id
        )
    return hold


def signal_clear(*, key: str, fingerprint: str, reason: str, staff_id: int) -> SignalReview:
    """Clear the signal: not fraud. It stays out of the queue until its evidence changes."""
    reason = _check(staff_id=staff_id, reason=reason, key=key, fingerprint=fingerprint)
    return SignalReview.objects.create(
        key=key, fingerprint=fingerprint, decision=SignalDecision.CLEARED, reason=reason, reviewed_by_id=staff_id
    )
