"""Writing a transfer: its row, its two entries and the locked balances, in as few round trips as
the engine allows: on PostgreSQL one call of `wallet_transfer_post` (migration 0011) for a transfer
(locks, checks and writes), one of `wallet_transfers_post_batch` for several, and one
data-modifying statement after the lock for holds' captures and expiries."""

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import DatabaseError, connection, models
from django.utils import timezone

from ..errors import InsufficientFunds
from ..models import (
    Account,
    Entry,
    Transfer,
)
from . import _lots

logger = logging.getLogger(__name__)

TRANSFER_COLUMNS = (
    "currency_id",
    "debit_account_id",
    "credit_account_id",
    "amount",
    "kind",
    "memo",
    "idempotency_key",
    "fingerprint",
    "reverses_id",
    "hold_id",
    "cause_type_id",
    "cause_id",
    "created_by_id",
    "created_at",
)


def _transfer_values(
    *, debit: Account, credit: Account, amount: int, now: datetime, fields: dict[str, Any]
) -> dict[str, Any]:
    """Column values of a new transfer row. `fields` may name links as models (`hold=`) or ids
    (`hold_id=`); what they leave out gets the column's default."""
    values: dict[str, Any] = {
        "reverses_id": None,
        "hold_id": None,
        "cause_type_id": None,
        "cause_id": "",
        "created_by_id": None,
        "memo": "",
        **{(f"{k}_id" if k in ("hold", "reverses", "created_by") else k): v for k, v in fields.items()},
        "currency_id": debit.currency_id,
        "debit_account_id": debit.pk,
        "credit_account_id": credit.pk,
        "amount": amount,
        "created_at": now,
    }
    for link in ("hold_id", "reverses_id"):
        if isinstance(values[link], models.Model):
            values[link] = values[link].pk
    return values


def _write_transfer(
    *,
    locked: dict[int, Account],
    debit: Account,
    credit: Account,
    amount: int,
    held_release: int = 0,
    lot_source: str | None = None,
    lot_id: int | None = None,
    **fields: object,
) -> Transfer:
    """Insert the transfer and its two entries and move the locked balances.

    The new balances and versions are computed here, under the row locks the caller holds;
    `held_release` is taken off the debited account's `held` in the same row update (captures).
    A used idempotency key (or reversal link) makes the transfer INSERT raise IntegrityError.
    The user accounts' credit lots move with their balances (`_lots`; `lot_source` names where a
    credit comes from when the kind alone does not, `lot_id` the one lot an expiry draws from).
    """
    values = _transfer_values(debit=debit, credit=credit, amount=amount, now=timezone.now(), fields=fields)
    entries: list[tuple[int, int, int | None, int | None]] = []  # account, amount, balance_after, version
    updates: list[Account] = []
    for account, signed in ((debit, -amount), (credit, amount)):
        row = locked.get(account.pk)
        if row is None:  # a system account: balance derived from entries, never locked
            entries.append((account.pk, signed, None, None))
            continue
        row.balance += signed
        row.version += 1
        if signed < 0 and held_release:
            row.held -= held_release
        updates.append(row)
        entries.append((row.pk, signed, row.balance, row.version))
    lots: dict[str, Any] = dict(
        kind=values["kind"],
        reverses_id=values["reverses_id"],
        debit_user=debit.pk if debit.pk in locked else None,
        credit_user=credit.pk if credit.pk in locked else None,
        amount=amount,
        now=values["created_at"],
        source=lot_source,
        lot_id=lot_id,
    )
    if connection.vendor == "postgresql":
        calls, call_params, drew, credited = _lots.postgres_calls(**lots)
        transfer_id, drawn = _write_rows_postgres(values, entries, updates, calls, call_params)
        _lots.check_drawn(drawn, amount)
        lots.update(debit_user=None if drew else lots["debit_user"])
        lots.update(credit_user=None if credited else lots["credit_user"])
    else:
        transfer_id = _write_rows_orm(values, entries, updates)
    _lots.apply(transfer_id=transfer_id, **lots)
    transfer = Transfer(id=transfer_id, **values)
    transfer._state.adding = False
    transfer._state.db = connection.alias
    return transfer


_ROW4 = "(%s::bigint, %s::bigint, %s::bigint, %s::bigint)"
# Built once from constants; every value is a query parameter.
_WRITE_SQL_HEAD = (
    f"WITH t AS (INSERT INTO wallet_transfer ({', '.join(TRANSFER_COLUMNS)})"  # noqa: S608
    f" VALUES ({', '.join(['%s'] * len(TRANSFER_COLUMNS))}) RETURNING id),"
    " e AS (INSERT INTO wallet_entry (transfer_id, account_id, amount, balance_after, account_version, created_at)"
    f" SELECT t.id, v.a, v.m, v.b, v.n, %s FROM t, (VALUES {_ROW4}, {_ROW4}) AS v(a, m, b, n))"
)
# The final SELECT names the transfer and calls the lot functions (`_lots.postgres_calls`).
_WRITE_SQL = {
    0: _WRITE_SQL_HEAD + " SELECT t.id, {calls} FROM t",  # noqa: S608
    **{
        n: _WRITE_SQL_HEAD  # noqa: S608
        + ", u AS (UPDATE wallet_account AS a SET balance = v.b, held = v.h, version = v.n"
        + f" FROM (VALUES {', '.join([_ROW4] * n)}) AS v(id, b, h, n) WHERE a.id = v.id)"
        + " SELECT t.id, {calls} FROM t"
        for n in (1, 2)
    },
}


@dataclass
class FunctionCall:
    """One transfer as the arguments of `wallet_transfer_post` (migration 0011), with what the
    caller needs to finish it: the transfer's column values and the lot moves left to `_lots.apply`."""

    args: list[Any]
    values: dict[str, Any]
    lots: dict[str, Any]
    draw: bool
    category: str | None
    single: str | None


def function_call(
    *,
    debit: Account,
    credit: Account,
    amount: int,
    payer_id: int | None,
    guard: bool,
    now: datetime,
    lot_source: str | None = None,
    **fields: object,
) -> FunctionCall:
    values = _transfer_values(debit=debit, credit=credit, amount=amount, now=now, fields=fields)
    lots: dict[str, Any] = dict(
        kind=values["kind"],
        reverses_id=values["reverses_id"],
        debit_user=debit.pk if debit.user_id is not None else None,
        credit_user=credit.pk if credit.user_id is not None else None,
        amount=amount,
        now=now,
        source=lot_source,
    )
    draw, category = _lots.postgres_plan(
        kind=lots["kind"],
        reverses_id=lots["reverses_id"],
        debit_user=lots["debit_user"],
        credit_user=lots["credit_user"],
        source=lot_source,
    )
    args = [debit.pk, credit.pk, payer_id, guard, amount]
    args += [values[c] for c in ("currency_id", "kind", "memo", "idempotency_key", "fingerprint", "reverses_id")]
    args += [values[c] for c in ("cause_type_id", "cause_id", "created_by_id")]
    single = None  # one user account and a system one: the user side, locked by one UPDATE
    if payer_id is None and (lots["debit_user"] is None) != (lots["credit_user"] is None):
        single = "debit" if lots["debit_user"] is not None else "credit"
    return FunctionCall(args=args, values=values, lots=lots, draw=draw, category=category, single=single)


_ARG_TYPES: tuple[str, ...] = ("bigint", "bigint", "bigint", "boolean", "bigint", "text", "text", "text", "text")
_ARG_TYPES += ("text", "bigint", "integer", "text", "bigint")
# Built once from constants; every value is a query parameter.
_POST_SQL = (
    "SELECT status, transfer_id, drawn, available FROM wallet_transfer_post("  # noqa: S608
    + ", ".join(f"%s::{t}" for t in _ARG_TYPES)
    + ", %s::timestamptz, %s::text[], %s::text, %s::text)"
)
_BATCH_SQL = (
    "SELECT status, transfer_id, drawn, available FROM wallet_transfers_post_batch("  # noqa: S608
    + ", ".join(f"%s::{t}[]" for t in _ARG_TYPES)
    + ", %s::timestamptz, %s::boolean[], %s::text[], %s::text[], %s::text[])"
)

# (status, transfer id, what the draw covered, the debited account's available balance)
FunctionRow = tuple[str, int | None, int | None, int | None]


def call_post(call: FunctionCall) -> FunctionRow:
    """One transfer in one round trip: `wallet_transfer_post` (PostgreSQL). Outside a transaction
    the statement is the whole transaction (see `self_contained`)."""
    now = call.values["created_at"]
    order = _lots.spend_order() if call.draw else None
    with _lots_short_raises(), connection.cursor() as cursor:
        cursor.execute(_POST_SQL, [*call.args, now, order, call.category, call.single])
        row = cursor.fetchone()
    return (str(row[0]), row[1], row[2], row[3])


def call_post_batch(calls: list[FunctionCall], now: datetime) -> list[FunctionRow]:
    """Several transfers in one round trip: `wallet_transfers_post_batch` (PostgreSQL); the rows
    stop at the first refusal."""
    columns = [list(column) for column in zip(*(call.args for call in calls), strict=True)]
    draws = [call.draw for call in calls]
    categories = [call.category for call in calls]
    singles = [call.single for call in calls]
    with _lots_short_raises(), connection.cursor() as cursor:
        cursor.execute(_BATCH_SQL, [*columns, now, draws, _lots.spend_order(), categories, singles])
        return [(str(r[0]), r[1], r[2], r[3]) for r in cursor.fetchall()]


@contextmanager
def _lots_short_raises() -> Iterator[None]:
    """`wallet_transfer_post` raises SQLSTATE GBL01 (DETAIL "drawn amount", migration 0012) when
    the credit lots cover less than a debit: InsufficientFunds, as the Python path raises."""
    try:
        yield
    except DatabaseError as exc:
        cause = exc.__cause__
        if getattr(cause, "pgcode", None) != "GBL01":
            raise
        drawn, amount = (int(n) for n in cause.diag.message_detail.split())  # type: ignore[union-attr]
        raise InsufficientFunds(available=drawn, required=amount) from None


def self_contained(call: FunctionCall) -> bool:
    """Whether the function call does the whole transfer, lots included, so that outside a
    transaction it can run as its own (one round trip: no BEGIN, no COMMIT, row locks released
    as the statement ends). Reversals and expiring credits move lots in Python afterwards."""
    return _lots_left(call) is None


def _lots_left(call: FunctionCall) -> dict[str, Any] | None:
    """The lot moves the SQL functions leave to `_lots.apply` (None when there are none)."""
    rest = dict(call.lots)
    if call.draw:
        rest["debit_user"] = None
    if call.category is not None:
        rest["credit_user"] = None
    if rest["debit_user"] is None and rest["credit_user"] is None:
        return None
    return rest


def finish_posted(call: FunctionCall, row: FunctionRow) -> Transfer:
    """The transfer a function call wrote ('ok'): check what the draw covered (InsufficientFunds
    rolls the caller's atomic block back) and move the lots the SQL functions leave to `_lots`
    (reversals, expiring credits: read now, still under the row lock)."""
    amount = int(call.values["amount"])
    _lots.check_drawn(row[2], amount)
    assert row[1] is not None
    transfer_id = int(row[1])
    rest = _lots_left(call)
    if rest is not None:
        _lots.apply(transfer_id=transfer_id, **rest)
    transfer = Transfer(id=transfer_id, **call.values)
    transfer._state.adding = False
    transfer._state.db = connection.alias
    return transfer


def _write_rows_postgres(
    values: dict[str, Any],
    entries: list[tuple[int, int, int | None, int | None]],
    updates: list[Account],
    calls: str,
    call_params: list[object],
) -> tuple[int, object]:
    """The transfer, its two entries and the balance updates in ONE statement (data-modifying CTEs).

    The row locks are held from the SELECT … FOR NO KEY UPDATE until COMMIT, so every statement
    in between lengthens the queue on a hot account; this keeps it to one round trip.
    """
    params: list[Any] = [values[c] for c in TRANSFER_COLUMNS]
    params.append(values["created_at"])
    for entry in entries:
        params.extend(entry)
    for row in updates:
        params.extend((row.pk, row.balance, row.held, row.version))
    with connection.cursor() as cursor:
        cursor.execute(_WRITE_SQL[len(updates)].format(calls=calls), params + call_params)
        row = cursor.fetchone()
        return int(row[0]), row[1]


def _write_rows_orm(
    values: dict[str, Any], entries: list[tuple[int, int, int | None, int | None]], updates: list[Account]
) -> int:
    transfer = Transfer.objects.create(**values)
    for row in updates:
        Account.objects.filter(pk=row.pk).update(balance=row.balance, held=row.held, version=row.version)
    Entry.objects.bulk_create(
        Entry(
            transfer_id=transfer.pk,
            account_id=account_id,
            amount=signed,
            balance_after=after,
            account_version=version,
            created_at=values["created_at"],
        )
        for account_id, signed, after, version in entries
    )
    return int(transfer.pk)
