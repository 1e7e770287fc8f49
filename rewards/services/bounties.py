"""Bounties: coins a member offers on a forum thread, held in escrow until awarded, cancelled or
returned when the grace period ends."""

import logging
import uuid
from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from core.events import Event, record
from wallet import services as wallet
from wallet.errors import IdempotencyConflict
from wallet.models import SystemAccount, TransferKind
from wallet.selectors import default_currency

from ..errors import BountyClosed, BountyHasAnswers, BountyNotFound, InvalidBounty, NotOfferer, WinnerNotFound
from ..models import Bounty, BountyStatus
from ..selectors import thread_answers
from ._shared import lock_profile
from .leaderboards import totals_add

logger = logging.getLogger(__name__)

# Escrow, not a wallet hold: a bounty lives for days (7 by default, plus grace), while wallet holds
# are short reservations that `holds_expire` releases after GOLDBOOK_HOLD_TTL_SECONDS. An escrow
# transfer (user → escrow system account) shows the coins leaving at once in the member's history,
# and the escrow account's balance is exactly the sum of open bounties.
#
# Stack Exchange's rules, adopted: a bounty runs 7 days (`expires_in_days`, 1–30 here); after it
# expires the offerer has a 24-hour grace period in which they can still award it; only the offerer
# awards, never to themselves, one winner. Differences, as the issue asks: a bounty may be cancelled
# while nobody has answered (SE never refunds), and one not awarded by the end of the grace period
# is returned to the offerer (SE keeps it, or auto-awards half to the top answer; we have no answer
# scores to do that fairly).


def bounty_create(
    *,
    offerer_id: int,
    thread_ref: str,
    title: str,
    amount: int,
    expires_in_days: int | None = None,
    idempotency_key: str | None = None,
) -> Bounty:
    """Offer a bounty: the coins move to the escrow system account at once.

    A reused idempotency key returns its bounty (nothing escrowed again), or raises
    IdempotencyConflict when it offered a different one.
    Raises InvalidBounty, InsufficientFunds, IdempotencyConflict.
    """
    days = settings.REWARDS_BOUNTY_DAYS if expires_in_days is None else expires_in_days
    if not 1 <= days <= settings.REWARDS_BOUNTY_MAX_DAYS:
        raise InvalidBounty(
            _("expires_in_days must be between 1 and %(max)s.") % {"max": settings.REWARDS_BOUNTY_MAX_DAYS}
        )
    minimum = default_currency().to_minor(Decimal(str(settings.REWARDS_BOUNTY_MIN)))
    if not isinstance(amount, int) or amount < minimum or amount > wallet.MAX_AMOUNT:
        raise InvalidBounty(
            _("A bounty is at least %(minimum)s.") % {"minimum": default_currency().to_decimal(minimum)}
        )
    thread_ref, title = thread_ref.strip()[:200], title.strip()[:200]
    if not thread_ref or not title:
        raise InvalidBounty(_("A bounty needs a thread and a title."))
    key = idempotency_key or uuid.uuid4().hex
    now = timezone.now()
    with transaction.atomic(durable=True):
        lock_profile(offerer_id)
        existing = (
            Bounty.objects.select_related("offerer", "winner")
            .filter(offerer_id=offerer_id, idempotency_key=key)
            .first()
        )
        if existing is not None:
            if (existing.thread_ref, existing.title, existing.amount) != (thread_ref, title, amount):
                raise IdempotencyConflict(_("This idempotency_key was used for a different bounty."))
            return existing
        expires = now + timedelta(days=days)
        bounty = Bounty.objects.create(
            offerer_id=offerer_id,
            thread_ref=thread_ref,
            title=title,
            amount=amount,
            created_at=now,
            expires_at=expires,
            grace_ends_at=expires + timedelta(hours=settings.REWARDS_BOUNTY_GRACE_HOURS),
            idempotency_key=key,
        )
        bounty.escrow_transfer = wallet.transfer_post(
            from_account=wallet.user_account(user_id=offerer_id),
            to_account=wallet.system_account(name=SystemAccount.ESCROW),
            amount=amount,
            kind=TransferKind.ESCROW,
            idempotency_key=f"rewards:bounty:{bounty.pk}:escrow",
            memo=f"Bounty: {title}"[:255],
            cause=bounty,
        )
        bounty.save(update_fields=["escrow_transfer"])
        bounty.offerer  # noqa: B018 - loaded before commit: the API answers with no read after it
    logger.info("Bounty #%s: %s escrowed by user #%s on %s", bounty.pk, amount, offerer_id, thread_ref)
    return bounty


def _lock_bounty(bounty_id: int) -> Bounty:
    bounty = Bounty.objects.select_for_update(no_key=True).filter(pk=bounty_id).first()
    if bounty is None:
        raise BountyNotFound(_("No such bounty."))
    return bounty


def bounty_award(*, bounty_id: int, actor_id: int, answer_id: str) -> Bounty:
    """The offerer awards the bounty to an answer on its thread: escrow pays the answer's author.

    The winner is named by the forum's answer id (an answer.posted event on the bounty's thread
    whose author is a Goldbook member), never looked up by email, so awarding cannot be used to
    ask whether an address has an account. Allowed while open and until the grace period ends
    (Stack Exchange's 24 hours after expiry).
    Raises BountyNotFound, NotOfferer, BountyClosed, WinnerNotFound, InvalidBounty.
    """
    now = timezone.now()
    with transaction.atomic(durable=True):
        bounty = _lock_bounty(bounty_id)  # the domain row first, then accounts
        if bounty.offerer_id != actor_id:
            raise NotOfferer(_("Only the member who offered the bounty can award it."))
        if bounty.status != BountyStatus.OPEN or now >= bounty.grace_ends_at:
            if bounty.status == BountyStatus.OPEN:
                raise BountyClosed(_("This bounty has expired."))
            raise BountyClosed(_("This bounty is %(status)s.") % {"status": bounty.get_status_display().lower()})
        answer = thread_answers(thread_ref=bounty.thread_ref).filter(object_id=str(answer_id).strip()[:128]).first()
        winner = answer.user if answer is not None else None
        if winner is None:
            raise WinnerNotFound()
        if winner.pk == bounty.offerer_id:
            raise InvalidBounty(_("You cannot award your own bounty to yourself."))
        payout = wallet.transfer_post(
            from_account=wallet.system_account(name=SystemAccount.ESCROW),
            to_account=wallet.user_account(user_id=winner.pk),
            amount=bounty.amount,
            kind=TransferKind.BOUNTY,
            idempotency_key=f"rewards:bounty:{bounty.pk}:payout",
            memo=f"Bounty won: {bounty.title}"[:255],
            cause=bounty,
            payer=wallet.user_account(user_id=bounty.offerer_id),  # waits while the offerer is on hold
        )
        bounty.status = BountyStatus.AWARDED
        bounty.winner = winner
        bounty.payout_transfer = payout
        bounty.resolved_at = now
        bounty.save(update_fields=["status", "winner", "payout_transfer", "resolved_at"])
        totals_add(user_id=winner.pk, at=payout.created_at, delta=bounty.amount)
        record(
            Event.BOUNTY_AWARDED,
            {"bounty_id": bounty.pk, "winner_id": winner.pk, "amount": bounty.amount, "title": bounty.title},
        )
    logger.info("Bounty #%s: awarded to user #%s", bounty.pk, winner.pk)
    return bounty


def _bounty_refund(bounty: Bounty, status: BountyStatus, now: datetime) -> None:
    escrow = bounty.escrow_transfer
    assert escrow is not None
    wallet.transfer_post(
        from_account=escrow.credit_account,
        to_account=escrow.debit_account,
        amount=escrow.amount,
        kind=TransferKind.REFUND,
        idempotency_key=f"reversal:{escrow.pk}",
        memo=f"Bounty returned: {bounty.title}"[:255],
        cause=bounty,
        reverses=escrow,
    )
    bounty.status = status
    bounty.resolved_at = now
    bounty.save(update_fields=["status", "resolved_at"])


def bounty_cancel(*, bounty_id: int, actor_id: int) -> Bounty:
    """The offerer cancels an open bounty that has no answers yet; the coins come back.

    Raises BountyNotFound, NotOfferer, BountyClosed, BountyHasAnswers.
    """
    now = timezone.now()
    with transaction.atomic(durable=True):
        bounty = (
            Bounty.objects.select_related("escrow_transfer")
            .select_for_update(no_key=True, of=("self",))
            .filter(pk=bounty_id)
            .first()
        )
        if bounty is None:
            raise BountyNotFound(_("No such bounty."))
        if bounty.offerer_id != actor_id:
            raise NotOfferer(_("Only the member who offered the bounty can cancel it."))
        if bounty.status != BountyStatus.OPEN:
            raise BountyClosed(_("This bounty is %(status)s.") % {"status": bounty.get_status_display().lower()})
        if bounty.answer_count > 0:
            raise BountyHasAnswers(_("Answers have been posted: award the bounty instead of cancelling it."))
        _bounty_refund(bounty, BountyStatus.CANCELLED, now)
    return bounty


def bounties_expire(*, now: datetime | None = None, limit: int = 500) -> int:
    """Return the coins of bounties whose grace period ended without an award."""
    now = now or timezone.now()
    due = list(
        Bounty.objects.filter(status=BountyStatus.OPEN, grace_ends_at__lte=now)
        .order_by("grace_ends_at")
        .values_list("pk", flat=True)[:limit]
    )
    expired = 0
    for bounty_id in due:
        with transaction.atomic(durable=True):
            bounty = (
                Bounty.objects.select_related("escrow_transfer")
                .select_for_update(no_key=True, of=("self",))
                .get(pk=bounty_id)
            )
            if bounty.status != BountyStatus.OPEN or bounty.grace_ends_at > now:
                continue
            _bounty_refund(bounty, BountyStatus.EXPIRED, now)
            expired += 1
            logger.info("Bounty #%s: expired, %s returned to user #%s", bounty.pk, bounty.amount, bounty.offerer_id)
    return expired
