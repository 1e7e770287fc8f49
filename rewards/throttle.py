"""Throttles on rewards' member actions (django-ratelimit, counted in the default cache)."""

from django.conf import settings
from django.http import HttpRequest
from django_ratelimit.core import is_ratelimited

from .errors import Throttled


def bounty_award_throttle(request: HttpRequest, *, actor_id: int) -> None:
    """Count one award attempt by this member; raise Throttled (429) past
    `REWARDS_BOUNTY_AWARD_RATE`, so guessing answer ids on a thread stays slow."""
    if is_ratelimited(
        request,
        group="rewards.bounty_award",
        key=lambda group, request: f"user:{actor_id}",
        rate=settings.REWARDS_BOUNTY_AWARD_RATE,
        increment=True,
    ):
        raise Throttled("Too many award attempts. Try again in an hour.")
