"""Writing a transfer: its row, its two entries and the locked balances, in as few round trips as
the engine allows (one data-modifying statement on PostgreSQL)."""

import logging
from datetime import datetime
from typing import Any

from django.db import connection, models
from django.utils import timezone

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


def _single_user_sql(*, debit_is_user: bool, guard: bool = False) -> str:
    """One statement that locks the user row, checks funds on its latest version, moves the
    balance and writes the transfer and both entries (PostgreSQL).

    The UPDATE waits for the row lock and then re-evaluates its WHERE on the committed row
    (READ COMMITTED's EvalPlanQual), so `balance - held >= amount` is checked under the lock.
    No row updated means nothing was inserted either: the caller falls back to the general
    path, which reports InsufficientFunds (or finds the transfer a retry is asking about).
    """
    change, funds = ("-", " AND balance - held >= %s") if debit_is_user else ("+", "")
    if guard:  # the debited member is not on hold (checked on the locked row, like the funds)
        funds += " AND NOT frozen"
    user_amount, other_amount = ("-%s::bigint", "%s::bigint") if debit_is_user else ("%s::bigint", "-%s::bigint")
    return (
        f"WITH u AS (UPDATE wallet_account SET balance = balance {change} %s, version = version + 1"  # noqa: S608
        f" WHERE id = %s AND user_id IS NOT NULL{funds} RETURNING id, balance, version),"
        f" t AS (INSERT INTO wallet_transfer ({', '.join(TRANSFER_COLUMNS)})"
        f" SELECT {', '.join(['%s'] * len(TRANSFER_COLUMNS))} FROM u RETURNING id),"
        " e AS (INSERT INTO wallet_entry (transfer_id, account_id, amount, balance_after, account_version, created_at)"
        f" SELECT t.id, u.id, {user_amount}, u.balance, u.version, %s FROM t, u"
        f" UNION ALL SELECT t.id, %s, {other_amount}, NULL, NULL, %s FROM t)"
        " SELECT t.id, {calls} FROM t"  # `t` comes from `u`: evaluated once the row lock is held
    )


_SINGLE_USER_SQL = {
    (True, False): _single_user_sql(debit_is_user=True),
    (True, True): _single_user_sql(debit_is_user=True, guard=True),
    (False, False): _single_user_sql(debit_is_user=False),
    (False, True): _single_user_sql(debit_is_user=False),  # a credit: holds never stop one
}


def _post_single_user_postgres(
    *,
    debit: Account,
    credit: Account,
    amount: int,
    lot_source: str | None = None,
    guard: bool = False,
    **fields: object,
) -> Transfer | None:
    """The fast path for a transfer between one user account and one system account: one round
    trip between taking the row lock and COMMIT, so a hot account's queue moves as fast as the
    server commits. None when nothing was written (funds short, the debited member on hold when
    `guard`, or not such a pair)."""
    debit_is_user = debit.user_id is not None
    user, other = (debit, credit) if debit_is_user else (credit, debit)
    now = timezone.now()
    values = _transfer_values(debit=debit, credit=credit, amount=amount, now=now, fields=fields)
    params: list[Any] = [amount, user.pk]
    if debit_is_user:
        params.append(amount)
    params += [values[c] for c in TRANSFER_COLUMNS]
    params += [amount, now, other.pk, amount, now]
    lots: dict[str, Any] = dict(
        kind=values["kind"],
        reverses_id=values["reverses_id"],
        debit_user=user.pk if debit_is_user else None,
        credit_user=None if debit_is_user else user.pk,
        amount=amount,
        now=now,
        source=lot_source,
    )
    calls, call_params, drew, credited = _lots.postgres_calls(**lots)
    with connection.cursor() as cursor:
        cursor.execute(_SINGLE_USER_SQL[debit_is_user, guard].format(calls=calls), params + call_params)
        row = cursor.fetchone()
    if row is None:
        return None
    _lots.check_drawn(row[1], amount)
    if not (drew or credited):  # a reversal: the lots it names are read now, under the row lock
        _lots.apply(transfer_id=int(row[0]), **lots)
    transfer = Transfer(id=int(row[0]), **values)
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
