"""Celery tasks: ids in, one service call each. Schedules are in settings (`# --- rewards ---`)."""

from celery import shared_task

from . import services


@shared_task(name="rewards.apply_pending_events")
def apply_pending_events() -> int:
    """Apply stored events whose user has appeared since (the sign-up hook's safety net)."""
    return services.pending_events_sweep()


@shared_task(name="rewards.apply_pending_events_for_user")
def apply_pending_events_for_user(user_id: int) -> int:
    return services.pending_events_apply(user_id=user_id)


@shared_task(name="rewards.expire_bounties")
def expire_bounties() -> int:
    return services.bounties_expire()


@shared_task(name="rewards.expire_group_grants")
def expire_group_grants() -> int:
    return services.group_grants_expire()


@shared_task(name="rewards.rebuild_leaderboards")
def rebuild_leaderboards() -> int:
    return services.leaderboards_rebuild().rows
