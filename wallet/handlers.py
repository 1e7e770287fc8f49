"""The wallet's event handlers: after a committed balance change, the member's open pages hear
the new figures (core.live). Each run sends the figures as they are now."""

from typing import Any

from django.db import connection

from core.events import Delivered
from core.live import listening, publish

from .selectors import Balance, default_currency


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


_FIGURES_SQL = "SELECT user_id, balance, held FROM wallet_account WHERE currency_id = %s AND user_id IN ({ids})"


def push_balances(event: Delivered) -> None:
    """Event.BALANCE_CHANGED (LIVE: runs right after the commit, in the committing process, once
    per balance change, so it is kept lean: one look-up of who listens (`core.live.listening`),
    then one SQL read of their figures, none when no page listens; a batch of transfers is one
    change). A layer that is down costs a bounded wait (GOLDBOOK_LIVE_PUBLISH_TIMEOUT) and a log
    line, and the pages poll instead."""
    user_ids = listening(int(u) for u in event.payload.get("user_ids", []))
    if not user_ids:
        return
    currency = default_currency()
    with connection.cursor() as cursor:
        cursor.execute(_FIGURES_SQL.format(ids=", ".join(["%s"] * len(user_ids))), [currency.pk, *user_ids])
        rows: list[tuple[int, int, int]] = cursor.fetchall()
    for user_id, balance, held in rows:
        publish(user_id=int(user_id), event=balance_event(Balance(currency=currency, balance=balance, held=held)))
