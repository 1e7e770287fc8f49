"""Keeping a user account's credit lots in step with its balance (see `wallet/lots.py`).

Called by `_rows` right after a transfer's rows are written, in the same transaction and under
the same account row lock that the balance change holds: lots change only there, so reading them
after the lock sees every earlier change and nothing can race in between.

- A credit into a user account opens or grows a lot of its source's category. A linked reversal
  of a spend (a refund, a cancelled bounty) instead goes back to the lots that spend drew from.
- A debit draws from the lots in the spend order: soonest-expiring first, then the open-ended
  lots in `GOLDBOOK_CREDIT_SPEND_ORDER` (paid last by default). A reversal of a credit (a refund
  of a purchase, a clawed-back award) draws only from the category that credit went to, its own
  lot first; an expiry draws from the one lot that expired.

Holds reserve an amount, not categories: a capture draws in the spend order at capture time, and
an expiry never takes credits that pending holds need (it takes at most what is available; the
rest expires once the hold is resolved).

What a draw cannot cover raises InsufficientFunds: the caller's atomic block rolls back the
transfer with it, so a refund of spent paid credits is refused with nothing moved.
"""

import functools
import math
from datetime import datetime, timedelta

from django.conf import settings

from ..errors import InsufficientFunds
from ..lots import CreditLot, LotEntry, expiry_days, source_category, spend_rank

# lot id -> (the lot as read, the change to its remaining)
Changes = dict[int, tuple[CreditLot, int]]


def _order_key(lot: CreditLot, rank: dict[str, int], first: frozenset[int]) -> tuple[int, float, int, int]:
    """Spend order: the preferred lots, then soonest-expiring, then open-ended by category rank."""
    expires = lot.expires_at.timestamp() if lot.expires_at is not None else math.inf
    return (0 if lot.pk in first else 1, expires, rank[lot.category], lot.pk)


def apply(
    *,
    transfer_id: int,
    kind: str,
    reverses_id: int | None,
    debit_user: int | None,
    credit_user: int | None,
    amount: int,
    now: datetime,
    source: str | None = None,
    lot_id: int | None = None,
) -> None:
    """Move the lots of the user account(s) of a just-written transfer (ids of user accounts,
    None for a system side). Raises InsufficientFunds when the lots a debit may draw from hold
    less than `amount`."""
    if debit_user is not None:
        _draw(transfer_id=transfer_id, account_id=debit_user, amount=amount, reverses_id=reverses_id, lot_id=lot_id)
    if credit_user is not None:
        _credit(
            transfer_id=transfer_id,
            account_id=credit_user,
            amount=amount,
            source=source or kind,
            reverses_id=reverses_id,
            now=now,
        )


def _draw(*, transfer_id: int, account_id: int, amount: int, reverses_id: int | None, lot_id: int | None) -> None:
    lots = CreditLot.objects.filter(account_id=account_id, live=True)
    first: frozenset[int] = frozenset()
    if lot_id is not None:
        lots = lots.filter(pk=lot_id)
    elif reverses_id is not None:
        # Taking back a credit: only from its category, its own lot first. A linked reversal of
        # a transfer that credited someone else (not this account) has no lots here: spend order.
        credited = list(
            LotEntry.objects.filter(transfer_id=reverses_id, lot__account_id=account_id, amount__gt=0).values_list(
                "lot_id", "lot__category"
            )
        )
        if credited:
            first = frozenset(pk for pk, _ in credited)
            lots = lots.filter(category__in={category for _, category in credited})
    rank = spend_rank()
    left = amount
    changes: Changes = {}
    for lot in sorted(lots, key=lambda lot: _order_key(lot, rank, first)):
        take = min(lot.remaining, left)
        changes[lot.pk] = (lot, -take)
        left -= take
        if left == 0:
            break
    if left:
        raise InsufficientFunds(available=amount - left, required=amount)
    _save(transfer_id, changes)


def _credit(
    *, transfer_id: int, account_id: int, amount: int, source: str, reverses_id: int | None, now: datetime
) -> None:
    left = amount
    changes: Changes = {}
    if reverses_id is not None:
        # Giving back a spend: to the lots it was drawn from, the last-drawn (paid) first.
        drawn = list(
            LotEntry.objects.filter(transfer_id=reverses_id, lot__account_id=account_id, amount__lt=0).select_related(
                "lot"
            )
        )
        rank = spend_rank()
        drawn.sort(key=lambda e: _order_key(e.lot, rank, frozenset()), reverse=True)
        for entry in drawn:
            back = min(-entry.amount, left)
            if back <= 0:
                break
            changes[entry.lot_id] = (entry.lot, back)
            left -= back
    if left:
        # A new credit; or a spend from before the categories existed, with no lots to return to.
        lot = _lot_for(account_id=account_id, source=source, transfer_id=transfer_id, now=now)
        before = changes.get(lot.pk, (lot, 0))
        changes[lot.pk] = (before[0], before[1] + left)
    _save(transfer_id, changes)


def _lot_for(*, account_id: int, source: str, transfer_id: int, now: datetime) -> CreditLot:
    """The lot a new credit from `source` goes to: a fresh one when it expires, else the
    account's open-ended lot of the category (created on first use; the account row lock
    rules out a concurrent creator)."""
    category = source_category(source)
    days = expiry_days(source)
    if days is not None:
        return CreditLot.objects.create(
            account_id=account_id,
            category=category,
            expires_at=now + timedelta(days=days),
            source_transfer_id=transfer_id,
        )
    lot, _ = CreditLot.objects.get_or_create(account_id=account_id, category=category, expires_at=None)
    return lot


def _save(transfer_id: int, changes: Changes) -> None:
    """Write the new `remaining` of each changed lot and its entry (one statement each)."""
    moved = [(lot, delta) for lot, delta in changes.values() if delta]
    if not moved:
        return
    for lot, delta in moved:
        lot.remaining += delta
    CreditLot.objects.bulk_update([lot for lot, _ in moved], ["remaining"])
    LotEntry.objects.bulk_create(LotEntry(lot=lot, transfer_id=transfer_id, amount=delta) for lot, delta in moved)


# PostgreSQL: a plain spend's draw and a plain credit's lot are written by two functions (migration
# 0006) called from the statement that writes the transfer, so lots cost no extra round trip while
# the account's row lock is held. A VOLATILE function's statements each take a fresh snapshot, and
# the call is evaluated from the transfer's RETURNING row, i.e. after the statement took the row
# lock: they see every lot change of earlier lock holders, as the ORM path does.


def postgres_calls(
    *,
    kind: str,
    reverses_id: int | None,
    debit_user: int | None,
    credit_user: int | None,
    amount: int,
    now: datetime,
    source: str | None = None,
    lot_id: int | None = None,
) -> tuple[str, list[object], bool, bool]:
    """(two SELECT-list expressions over `t.id`, their parameters, draw handled, credit handled).
    What is not handled (reversals, expiring credits, an expiry's own lot) goes through `apply`."""
    draw, category = postgres_plan(
        kind=kind, reverses_id=reverses_id, debit_user=debit_user, credit_user=credit_user, source=source, lot_id=lot_id
    )
    exprs: list[str] = []
    params: list[object] = []
    if draw:
        exprs.append("wallet_lots_draw(%s::bigint, %s::bigint, t.id, %s::timestamptz, %s::text[])")
        params += [debit_user, amount, now, spend_order()]
    else:
        exprs.append("NULL::bigint")
    if category is not None:
        exprs.append("wallet_lots_credit(%s::bigint, %s::text, %s::bigint, t.id, %s::timestamptz)")
        params += [credit_user, category, amount, now]
    else:
        exprs.append("NULL::bigint")
    return ", ".join(exprs), params, draw, category is not None


def postgres_plan(
    *,
    kind: str,
    reverses_id: int | None,
    debit_user: int | None,
    credit_user: int | None,
    source: str | None = None,
    lot_id: int | None = None,
) -> tuple[bool, str | None]:
    """What the SQL lot functions do for a transfer: (draw the debited user's lots in the spend
    order, the category of the credited user's open-ended lot or None). The rest (reversals,
    expiring credits, an expiry's own lot) is for `apply`."""
    draw = debit_user is not None and reverses_id is None and lot_id is None
    source = source or kind
    credit = credit_user is not None and reverses_id is None and expiry_days(source) is None
    return draw, (str(source_category(source)) if credit else None)


def spend_order() -> list[str]:
    """The categories in spend order (the `p_order` of `wallet_lots_draw`)."""
    return list(_spend_order(tuple(settings.GOLDBOOK_CREDIT_SPEND_ORDER)))


@functools.lru_cache(maxsize=8)
def _spend_order(setting: tuple[str, ...]) -> tuple[str, ...]:
    # Every debit on PostgreSQL passes the order: validated once per value of the setting.
    rank = spend_rank()
    return tuple(sorted(rank, key=rank.__getitem__))


def check_drawn(drawn: object, amount: int) -> None:
    """Raise InsufficientFunds when the SQL draw covered less than `amount`."""
    if drawn is not None and int(drawn) < amount:  # type: ignore[call-overload]
        raise InsufficientFunds(available=int(drawn), required=amount)  # type: ignore[call-overload]
