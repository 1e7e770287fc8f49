"""Celery tasks: ids in, one service call each. Schedules are in settings (`# --- rewards ---`)."""

from celery import shared_task
from django.db import OperationalError

from . import selectors, services


@shared_task(name="rewards.apply_pending_events")
def apply_pending_events() -> int:
    """Apply stored events whose user has appeared since (the MEMBER_JOINED handler's safety net)."""
    return services.pending_events_sweep()


@shared_task(
    name="rewards.referral_purchase",
    autoretry_for=(OperationalError,),
    retry_backoff=True,
    max_retries=5,
    acks_late=True,  # the service is idempotent: a redelivered message pays nobody twice
)
def referral_purchase(user_id: int, purchase_ref: str, wallet_address: str = "") -> str:
    """Kept for messages queued before purchases went through the outbox (the PURCHASE_COMPLETED
    handler, rewards.handlers.purchase_completed, pays the referrer now): unlike the pending-events
    sweep, nothing else would pay a referrer whose message is lost. Remove once no worker can hold
    one."""
    referral = services.referral_on_first_purchase(
        user_id=user_id, purchase_ref=purchase_ref, wallet_address=wallet_address or None
    )
    return referral.status if referral else "not referred"


@shared_task(name="rewards.expire_bounties")
def expire_bounties() -> int:
    return services.bounties_expire()


@shared_task(name="rewards.expire_group_grants")
def expire_group_grants() -> int:
    return services.group_grants_expire()


@shared_task(name="rewards.rebuild_leaderboards")
def rebuild_leaderboards() -> int:
    return services.leaderboards_rebuild().rows


@shared_task(name="rewards.resync_leaderboards")
def resync_leaderboards() -> bool:
    """Rewrite Redis from the SQL aggregates when an update missed it (every minute; cheap when
    nothing was missed: one primary-key read)."""
    if not selectors.leaderboards_stale():
        return True
    return services.leaderboards_resync()
