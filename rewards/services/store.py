"""The reward store: redeeming (stock, per-member limits, the debit and fulfilment in one
transaction), staff decisions on manual redemptions, and expiring timed group memberships."""

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import F, Max
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from accounts.models import User
from wallet import services as wallet
from wallet.errors import IdempotencyConflict
from wallet.models import Currency, SystemAccount, TransferKind
from wallet.selectors import balance_for_user

from ..errors import LimitReached, OutOfStock, RedemptionNotPending, RewardUnavailable
from ..models import GroupGrant, Redemption, RedemptionStatus, Reward, RewardKind, RewardProfile, UserBadge
from ._shared import idem_key, lock_profile

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class RedeemResult:
    """The redemption and the member's spendable coins right after it, read in its transaction
    (the API answers from this, not from a read after commit)."""

    redemption: Redemption
    created: bool
    available: int
    currency: Currency


def reward_redeem(*, user_id: int, reward_id: int, idempotency_key: str | None = None) -> RedeemResult:
    """Redeem a reward: one atomic operation.

    Steps, under the user's profile lock: return the earlier redemption for a reused
    idempotency key; check the reward is live and the per-user limit; take one from stock with a
    conditional UPDATE (`stock > 0`: the last item cannot be sold twice); create the Redemption;
    debit the user (`redeem`); fulfil (group, badge, title) or leave it for staff (manual).
    Any error rolls all of it back, stock included.

    Raises RewardUnavailable, LimitReached, OutOfStock, InsufficientFunds, IdempotencyConflict.
    """
    if idempotency_key is not None and not (1 <= len(idempotency_key) <= 100):
        raise IdempotencyConflict(_("idempotency_key must be 1 to 100 characters."))
    now = timezone.now()
    with transaction.atomic(durable=True):
        profile = lock_profile(user_id)
        if idempotency_key:
            existing = Redemption.objects.filter(user_id=user_id, idempotency_key=idempotency_key).first()
            if existing is not None:
                if existing.reward_id != reward_id:
                    raise IdempotencyConflict(_("This idempotency_key was used for another reward."))
                return _result(existing, created=False)
        reward = Reward.objects.filter(pk=reward_id).first()
        if reward is None or not reward.is_live(now):
            raise RewardUnavailable(_("This reward is not available."))
        mine = Redemption.objects.filter(user_id=user_id, reward=reward)
        if (
            reward.per_user_limit is not None
            and mine.exclude(status=RedemptionStatus.CANCELLED).count() >= reward.per_user_limit
        ):
            raise LimitReached(
                ngettext(
                    "You can redeem %(reward)s at most %(count)d time.",
                    "You can redeem %(reward)s at most %(count)d times.",
                    reward.per_user_limit,
                )
                % {"reward": reward.name, "count": reward.per_user_limit}
            )
        if reward.stock is not None:
            # Conditional decrement: concurrent buyers of the last item queue on this row and
            # re-check `stock > 0` after the first commits, so only one of them gets it.
            taken = Reward.objects.filter(pk=reward.pk, stock__gt=0).update(stock=F("stock") - 1)
            if not taken:
                raise OutOfStock(_("%(reward)s is out of stock.") % {"reward": reward.name})
        key = idempotency_key or f"auto-{reward.pk}-{mine.count() + 1}-{uuid.uuid4().hex[:12]}"
        redemption = Redemption.objects.create(
            user_id=user_id, reward=reward, price=reward.price, status=RedemptionStatus.PENDING, idempotency_key=key
        )
        redemption.transfer = wallet.transfer_post(
            from_account=wallet.user_account(user_id=user_id),
            to_account=wallet.system_account(name=SystemAccount.REVENUE),
            amount=reward.price,
            kind=TransferKind.REDEEM,
            idempotency_key=idem_key("rewards:redeem", user_id, key),
            memo=f"Reward: {reward.name}",
            cause=redemption,
        )
        redemption.save(update_fields=["transfer"])
        if reward.kind != RewardKind.MANUAL:
            _fulfil(redemption=redemption, reward=reward, profile=profile, now=now)
        result = _result(redemption, created=True)
    logger.info("Redemption #%s: %s by user #%s (%s)", redemption.pk, reward.name, user_id, redemption.status)
    return result


def _result(redemption: Redemption, *, created: bool) -> RedeemResult:
    balance = balance_for_user(user_id=redemption.user_id)
    return RedeemResult(redemption=redemption, created=created, available=balance.available, currency=balance.currency)


def _fulfil(*, redemption: Redemption, reward: Reward, profile: RewardProfile, now: datetime) -> None:
    user = User.objects.get(pk=redemption.user_id)
    if reward.kind in (RewardKind.PREMIUM_ACCESS, RewardKind.VIP_GROUP) and reward.group_id:
        user.groups.add(reward.group_id)
        if reward.duration_days:
            # Renewing extends from the current grant's end, not from today.
            latest = GroupGrant.objects.filter(user=user, group_id=reward.group_id, removed_at__isnull=True).aggregate(
                m=Max("expires_at")
            )["m"]
            start = max(latest, now) if latest else now
            GroupGrant.objects.create(
                user=user,
                group_id=reward.group_id,
                redemption=redemption,
                expires_at=start + timedelta(days=reward.duration_days),
            )
    elif reward.kind == RewardKind.BADGE:
        UserBadge.objects.get_or_create(
            user=user, label=(reward.badge_label or reward.name)[:40], defaults={"redemption": redemption}
        )
    elif reward.kind == RewardKind.CUSTOM_TITLE:
        profile.title = (reward.title_text or reward.name)[:60]
        profile.save(update_fields=["title"])
    redemption.status = RedemptionStatus.FULFILLED
    redemption.resolved_at = now
    redemption.save(update_fields=["status", "resolved_at"])


def redemption_fulfil(*, redemption_id: int, staff_id: int | None, note: str = "") -> Redemption:
    """Staff mark a pending (manual) redemption fulfilled. Raises RedemptionNotPending."""
    with transaction.atomic(durable=True):
        redemption = Redemption.objects.select_for_update(no_key=True).select_related("reward").get(pk=redemption_id)
        if redemption.status != RedemptionStatus.PENDING:
            raise RedemptionNotPending(
                _("Redemption #%(id)s is %(status)s.")
                % {"id": redemption.pk, "status": redemption.get_status_display()}
            )
        profile = lock_profile(redemption.user_id)
        _fulfil(redemption=redemption, reward=redemption.reward, profile=profile, now=timezone.now())
        redemption.resolved_by_id = staff_id
        redemption.staff_note = note[:255]
        redemption.save(update_fields=["resolved_by", "staff_note"])
    return redemption


def redemption_cancel(*, redemption_id: int, staff_id: int | None, note: str = "") -> Redemption:
    """Staff cancel a pending redemption: refund the coins (linked `refund`) and restock."""
    with transaction.atomic(durable=True):
        redemption = (
            Redemption.objects.select_for_update(no_key=True, of=("self",))
            .select_related("reward", "transfer")
            .get(pk=redemption_id)
        )
        if redemption.status != RedemptionStatus.PENDING:
            raise RedemptionNotPending(
                _("Redemption #%(id)s is %(status)s.")
                % {"id": redemption.pk, "status": redemption.get_status_display()}
            )
        original = redemption.transfer
        assert original is not None
        redemption.refund_transfer = wallet.transfer_post(
            from_account=original.credit_account,
            to_account=original.debit_account,
            amount=original.amount,
            kind=TransferKind.REFUND,
            idempotency_key=f"reversal:{original.pk}",
            memo=f"Refund: {redemption.reward.name}",
            cause=redemption,
            reverses=original,
            created_by_id=staff_id,
        )
        if redemption.reward.stock is not None:
            Reward.objects.filter(pk=redemption.reward_id).update(stock=F("stock") + 1)
        redemption.status = RedemptionStatus.CANCELLED
        redemption.resolved_at = timezone.now()
        redemption.resolved_by_id = staff_id
        redemption.staff_note = note[:255]
        redemption.save(update_fields=["refund_transfer", "status", "resolved_at", "resolved_by", "staff_note"])
    return redemption


def group_grants_expire(*, now: datetime | None = None, limit: int = 500) -> int:
    """Remove group memberships whose grants ran out (and that no live grant still covers)."""
    now = now or timezone.now()
    due = list(GroupGrant.objects.filter(removed_at__isnull=True, expires_at__lte=now).order_by("pk")[:limit])
    removed = 0
    for grant in due:
        with transaction.atomic():
            updated = GroupGrant.objects.filter(pk=grant.pk, removed_at__isnull=True).update(removed_at=now)
            if not updated:
                continue
            still = GroupGrant.objects.filter(
                user_id=grant.user_id, group_id=grant.group_id, removed_at__isnull=True, expires_at__gt=now
            ).exists()
            if not still:
                User.objects.get(pk=grant.user_id).groups.remove(grant.group_id)
                removed += 1
    return removed
