"""A member's statement totals: what they bought, spent and earned, and what is held.

Totals are signed sums of the account's entries by the category of their transfer kind
(`KIND_CATEGORY`): purchased = purchase and bonus credits, net of reversals of those (refunded
purchases); spent = spending debits, net of reversals of those and of refunds credited back;
earned = earnings, net of their reversals. A reversal entry carries the opposite sign of the
transfer it reverses, so a plain signed sum over "the category, or the category of what it
reverses" nets them out. Held is `Account.held`.

The SQL is portable (CASE, no FILTER), so it runs on SQLite too, and is built to be embedded in
a larger statement (the balance endpoint's one prepared statement joins it to the token and the
member): `summary_columns()` reads account `a`'s balance, held and the two totals after version
`%(since)s`. `SumsMemo` remembers the sums per account up to a version, so a request sums only
the entries posted since the last one it saw, and the endpoint's cost does not grow with the
member's history.
"""

import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from django.db import connection

from .models import Account, Entry, KindCategory, Transfer, TransferKind, kinds_in

PURCHASED = kinds_in(KindCategory.PURCHASE, KindCategory.BONUS)
SPENT = kinds_in(KindCategory.SPENDING)
EARNED = kinds_in(KindCategory.EARNING)
# Credits given back for something spent without undoing one transfer (a refund): reversal
# category, but not the `reversal` kind, which always names the transfer it undoes.
GIVEN_BACK = tuple(k for k in kinds_in(KindCategory.REVERSAL) if k != TransferKind.REVERSAL)


def _kinds_sql(kinds: tuple[TransferKind, ...]) -> str:
    # Inlined, not parameters: fixed identifiers from TransferKind, checked here.
    assert all(str(k).isidentifier() and str(k).islower() for k in kinds), kinds  # noqa: S101
    return "(" + ", ".join(f"'{k}'" for k in kinds) + ")"


def _of(kinds: tuple[TransferKind, ...]) -> str:
    """Entry `e` of transfer `t` is of these kinds, or reverses a transfer `r` of these kinds."""
    return f"(t.kind IN {_kinds_sql(kinds)} OR (t.kind = 'reversal' AND r.kind IN {_kinds_sql(kinds)}))"


PURCHASED_SQL = _of(PURCHASED)
SPENT_SQL = f"({_of(SPENT)} OR (t.kind IN {_kinds_sql(GIVEN_BACK)} AND e.amount > 0))"
EARNED_SQL = _of(EARNED)


def ledger_sum_sql(condition: str, *, since: str = "%(since)s") -> str:
    """Signed sum of account `a`'s entries after version `since` that match `condition` (over the
    entry `e`, its transfer `t` and the transfer `r` that one reverses).

    Always a range on the (account_id, account_version) index, even for the whole history
    (since = 0: every user-account entry has a version from 1, which audit_ledger checks), so
    the transfers are looked up entry by entry. Without the range PostgreSQL's generic plan for
    "all entries of an account" hash-joined every transfer in the ledger: 32 ms for a member
    with one entry once the ledger held 100,000 transfers.
    """
    return (
        f"(SELECT COALESCE(SUM(CASE WHEN {condition} THEN e.amount ELSE 0 END), 0)"  # noqa: S608 (constants)
        f" FROM {Entry._meta.db_table} e JOIN {Transfer._meta.db_table} t ON t.id = e.transfer_id"
        f" LEFT JOIN {Transfer._meta.db_table} r ON r.id = t.reverses_id"
        f" WHERE e.account_id = a.id AND e.account_version > {since})"
    )


def summary_columns() -> str:
    """Account `a`'s id, balance, held, version, created_at, then the purchased and spent sums of
    its entries after version %(since)s (skipped when nothing was posted since)."""
    bought = f"CASE WHEN a.version = %(since)s THEN 0 ELSE {ledger_sum_sql(PURCHASED_SQL)} END"
    spent = f"CASE WHEN a.version = %(since)s THEN 0 ELSE {ledger_sum_sql(SPENT_SQL)} END"
    return f"a.id, a.balance, a.held, a.version, a.created_at, {bought}, {spent}"


SUMMARY_WIDTH = 7


def category_columns() -> str:
    """Account `a`'s paid credits and its promotional credits expiring by %(soon)s, from its
    live credit lots (a handful of rows on a partial index; never memoised: lots change in
    place). Promotional = balance − paid, since the lots sum to the balance (audit_ledger)."""
    lots = "wallet_creditlot l WHERE l.account_id = a.id AND l.live"
    return (
        f"(SELECT COALESCE(SUM(l.remaining), 0) FROM {lots} AND l.category = 'paid'),"  # noqa: S608 (constants)
        f" (SELECT COALESCE(SUM(l.remaining), 0) FROM {lots} AND l.expires_at <= %(soon)s)"
    )


CATEGORY_WIDTH = 2


@dataclass(frozen=True)
class LedgerSums:
    """The raw signed sums behind purchased and spent over an account's entries up to `version`."""

    account_id: int
    account_created_at: Any
    version: int
    bought: int
    spent: int


class SumsMemo:
    """A bounded, per-process memo of `LedgerSums`.

    Needs no invalidation: entries are append-only and every entry on a user account takes the
    next `version` under the account's row lock, so the sums up to a version never change, and
    a statement that sees version v sees every entry up to v. Only sums read outside any
    transaction are remembered (an open transaction may see its own entries and roll back).
    """

    def __init__(self, maxsize: int) -> None:
        self.maxsize = maxsize
        self._data: OrderedDict[tuple[str, object], LedgerSums] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple[str, object]) -> LedgerSums | None:
        with self._lock:
            sums = self._data.get(key)
            if sums is not None:
                self._data.move_to_end(key)
            return sums

    def put(self, key: tuple[str, object], sums: LedgerSums) -> None:
        with self._lock:
            self._data[key] = sums
            self._data.move_to_end(key)
            while len(self._data) > self.maxsize:
                self._data.popitem(last=False)

    def discard(self, key: tuple[str, object]) -> None:
        with self._lock:
            self._data.pop(key, None)

    def clear(self) -> None:
        with self._lock:
            self._data.clear()


sums_memo = SumsMemo(maxsize=10_000)


def since_for(key: tuple[str, object]) -> int:
    """The version to sum after for this memo key (0: the whole history)."""
    known = sums_memo.get(key)
    return known.version if known else 0


def complete(key: tuple[str, object], tail: list[Any]) -> bool:
    """Fold the remembered sums into a row's `summary_columns()` (a list, changed in place).
    False when the remembered sums were about another account (or a later snapshot): the memo
    entry is dropped and the caller runs the statement again, which then sums everything."""
    account_id, _, _, version, created_at = tail[:5]
    if account_id is None:  # no account yet: nothing ever moved
        return True
    bought, spent = int(tail[5]), int(tail[6])
    known = sums_memo.get(key)
    if known is not None:
        if (known.account_id, known.account_created_at) != (account_id, created_at) or version < known.version:
            sums_memo.discard(key)
            return False
        bought, spent = known.bought + bought, known.spent + spent
    if not connection.in_atomic_block:
        sums_memo.put(key, LedgerSums(account_id, created_at, version, bought, spent))
    tail[5], tail[6] = bought, spent
    return True


@dataclass(frozen=True)
class StatementTotals:
    """Minor units; purchased, spent and earned are never negative."""

    purchased: int
    spent: int
    earned: int
    held: int


def statement_totals(*, account: Account) -> StatementTotals:
    """The four totals of one account in one query (no memo: for pages and audits)."""
    sql = (
        f"SELECT {ledger_sum_sql(PURCHASED_SQL, since='0')}, {ledger_sum_sql(SPENT_SQL, since='0')},"  # noqa: S608
        f" {ledger_sum_sql(EARNED_SQL, since='0')} FROM {Account._meta.db_table} a WHERE a.id = %s"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [account.pk])
        bought, spent, earned = cursor.fetchone()
    return StatementTotals(
        purchased=max(0, int(bought)), spent=max(0, -int(spent)), earned=max(0, int(earned)), held=account.held
    )
