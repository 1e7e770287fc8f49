"""The wallet's outbox handlers: after a committed balance change, the member's open pages hear
the new figures (core.live). Idempotent: each run sends the figures as they are now."""

from typing import Any

from core.events import Delivered
from core.live import publish

from .selectors import Balance, balance_for_user


def balance_event(balance: Balance) -> dict[str, Any]:
    """The JSON the pages receive (static/js/live.js) and the balance endpoint answers."""
    return {
        "type": "balance",
        "currency": balance.currency.code,
        "balance": str(balance.balance_decimal),
        "held": str(balance.held_decimal),
        "available": str(balance.available_decimal),
        "available_minor": balance.available,
    }


def push_balances(event: Delivered) -> None:
    """Event.BALANCE_CHANGED. A member without open pages costs one read and a no-op send; a
    layer that is down costs a bounded wait and a log line (the pages poll instead)."""
    for user_id in event.payload.get("user_ids", []):
        publish(user_id=int(user_id), event=balance_event(balance_for_user(user_id=int(user_id))))
