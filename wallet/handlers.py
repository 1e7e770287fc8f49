"""The wallet's event handlers: after a committed balance change, the member's open pages hear
the new figures (core.live). Each run sends the figures as they are now."""

from typing import Any

from django.db import connection

from core.events import Delivered
from core.live import may_be_listening, publish

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


_FIGURES_SQL = "SELECT user_id, balance, held FROM wallet_account WHERE currency_id = %s AND user_id IN (%s, %s)"


def push_balances(event: Delivered) -> None:
    """Event.BALANCE_CHANGED (LIVE: runs right after the commit, in the committing process, once
    per balance change, so it is kept lean: one SQL read for both sides of a transfer, none when
    no page listens). A layer that is down costs a bounded wait (GOLDBOOK_LIVE_PUBLISH_TIMEOUT)
    and a log line, and the pages poll instead."""
    user_ids = [int(u) for u in event.payload.get("user_ids", []) if may_be_listening(int(u))]
    if not user_ids:
        return
    currency = default_currency()
    rows: list[tuple[int, int, int]] = []
    with connection.cursor() as cursor:
        for i in range(0, len(user_ids), 2):  # a transfer has at most two members
            pair = user_ids[i : i + 2]
            cursor.execute(_FIGURES_SQL, [currency.pk, pair[0], pair[-1]])
            rows.extend(cursor.fetchall())
    for user_id, balance, held in rows:
        publish(user_id=int(user_id), event=balance_event(Balance(currency=currency, balance=balance, held=held)))
