"""Reads for accounts: token lookup, the balance summary and the transaction history rows shown
by `/api/users/*` and the dashboard. Everything money here comes from the ledger."""

import functools
import logging
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.apps import apps
from django.conf import settings
from django.db import connection
from django.db.models import prefetch_related_objects
from django.utils import timezone

from config.db import PreparedStatement
from wallet.models import Account, Currency, Entry, Transfer, TransferKind
from wallet.selectors import (
    account_for_user,
    decode_cursor,
    default_currency,
    history_after,
    history_entries,
    songs_for,
)

from .models import ApiSession, User
from .services import TOKEN_PREFIX, token_digest

logger = logging.getLogger(__name__)

# --- reading rows of several models from one hand-written statement ------------------------------


class _ModelColumns:
    """The concrete columns of `model` under a table alias, and turning a slice of a raw row back
    into an instance, with the backend's converters applied as the ORM would (SQLite returns
    naive datetimes and 0/1 for booleans; PostgreSQL needs none)."""

    def __init__(self, model: Any, alias: str, only: tuple[str, ...] = ()) -> None:
        self.model = model
        self.fields = [f for f in model._meta.concrete_fields if not only or f.attname in only]
        self.attnames = [f.attname for f in self.fields]
        self.sql = ", ".join(f'{alias}."{f.column}"' for f in self.fields)
        self._converters: list[tuple[int, list[Any], Any]] | None = None

    def __len__(self) -> int:
        return len(self.fields)

    def instance(self, values: tuple[Any, ...]) -> Any:
        if self._converters is None:
            table = self.model._meta.db_table
            found = []
            for i, f in enumerate(self.fields):
                col = f.get_col(table)
                convs = connection.ops.get_db_converters(col) + col.get_db_converters(connection)
                if convs:
                    found.append((i, convs, col))
            self._converters = found
        if self._converters:
            row = list(values)
            for i, convs, col in self._converters:
                for conv in convs:
                    row[i] = conv(row[i], col, connection)
            values = tuple(row)
        return self.model.from_db(connection.alias, self.attnames, values)


_SESSION = _ModelColumns(ApiSession, "s")
_USER = _ModelColumns(User, "u")
# What the balance endpoint uses (token auth's sliding expiry, request.user): the other fields
# are left deferred (loaded on access, should anything ever read them).
_SESSION_BRIEF = _ModelColumns(ApiSession, "s", only=("id", "user_id", "last_used_at", "expires_at", "revoked_at"))
_USER_BRIEF = _ModelColumns(User, "u", only=("id", "email", "is_active", "is_staff", "is_superuser"))

# The live session of a token: not revoked, not expired, its member active. Indexed by digest.
_TOKEN_TABLES = " FROM accounts_apisession s JOIN accounts_user u ON u.id = s.user_id"
_TOKEN_WHERE = (
    " WHERE s.token_digest = %(digest)s AND s.revoked_at IS NULL AND s.expires_at > %(now)s"
    " AND u.is_active = %(active)s"
)


_SESSION_STATEMENT = PreparedStatement(
    "goldbook_api_session", f"SELECT {_SESSION.sql}, {_USER.sql}{_TOKEN_TABLES}{_TOKEN_WHERE}"
)


def _token_params(token: str) -> dict[str, Any] | None:
    if not isinstance(token, str) or not token.startswith(TOKEN_PREFIX) or len(token) > 200:
        return None
    return {"digest": token_digest(token), "now": timezone.now(), "active": True}


def _session_from_row(
    row: tuple[Any, ...], session_columns: _ModelColumns = _SESSION, user_columns: _ModelColumns = _USER
) -> ApiSession:
    n = len(session_columns)
    session: ApiSession = session_columns.instance(row[:n])
    session.user = user_columns.instance(row[n : n + len(user_columns)])
    return session


def api_session_for_token(token: str) -> ApiSession | None:
    """The live session for a raw token, its user loaded: one indexed lookup by digest, no bcrypt.

    Hand-written SQL: compiling the equivalent ORM query cost several times the lookup itself on
    every token-authenticated request.
    """
    params = _token_params(token)
    if params is None:
        return None
    row = _SESSION_STATEMENT.fetchone(params)
    return None if row is None else _session_from_row(row)


# --- totals -----------------------------------------------------------------------------------

# Credits that came in by buying them: the purchase and the bonus that came with it.
PURCHASE_KINDS = (TransferKind.PURCHASE, TransferKind.BONUS)
# Credits that left the member's account for something they got: a download, a store
# redemption, a captured hold (download jobs, bounties paid out of a hold), a bounty or escrow
# payment. Holds still pending are not spent (they can be released).
SPEND_KINDS = (
    TransferKind.DOWNLOAD,
    TransferKind.REDEEM,
    TransferKind.HOLD_CAPTURE,
    TransferKind.BOUNTY,
    TransferKind.ESCROW,
)


@dataclass(frozen=True)
class AccountSummary:
    email: str
    currency: Currency
    balance: Decimal
    held: Decimal
    available: Decimal
    songs_available: int
    total_credits_purchased: Decimal
    total_credits_spent: Decimal
    total_songs_downloaded: int


@dataclass(frozen=True)
class _LedgerSums:
    """The raw signed sums behind the two totals over an account's entries up to `version`."""

    account_id: int
    account_created_at: Any
    version: int
    bought: int
    spent: int


class _SumsMemo:
    """A bounded, per-process memo of `_LedgerSums`, so a request sums only the entries posted
    since the last one it saw instead of the member's whole history.

    Needs no invalidation: entries are append-only and every entry on a user account takes the
    next `version` under the account's row lock, so the sums up to a version never change, and
    a statement that sees version v sees every entry up to v. Only sums read outside any
    transaction are remembered (an open transaction may see its own entries and roll back).
    """

    def __init__(self, maxsize: int) -> None:
        self.maxsize = maxsize
        self._data: OrderedDict[tuple[str, object], _LedgerSums] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple[str, object]) -> _LedgerSums | None:
        with self._lock:
            sums = self._data.get(key)
            if sums is not None:
                self._data.move_to_end(key)
            return sums

    def put(self, key: tuple[str, object], sums: _LedgerSums) -> None:
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


_sums_memo = _SumsMemo(maxsize=10_000)


def _kinds_sql(kinds: tuple[str, ...]) -> str:
    # Inlined, not parameters: fixed identifiers from TransferKind, checked here.
    assert all(str(k).isidentifier() and str(k).islower() for k in kinds), kinds  # noqa: S101
    return "(" + ", ".join(f"'{k}'" for k in kinds) + ")"


def _ledger_sum_sql(condition: str) -> str:
    """Signed sum of the account's entries after version %(since)s that match `condition` (over
    the entry `e`, its transfer `t` and the transfer `r` that one reverses).

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
        " WHERE e.account_id = a.id AND e.account_version > %(since)s)"
    )


# purchased = credits of kind purchase/bonus − debits reversing those (refunded purchases);
# spent = debits of SPEND_KINDS − credits reversing those − refunds credited back. A reversal
# entry carries the opposite sign of the transfer it reverses, so a plain signed sum over "the
# kind, or the kind of what it reverses" nets them out. Portable SQL (CASE, no FILTER): it also
# runs on SQLite.
_BOUGHT = f"t.kind IN {_kinds_sql(PURCHASE_KINDS)} OR (t.kind = 'reversal' AND r.kind IN {_kinds_sql(PURCHASE_KINDS)})"
_SPENT = (
    f"t.kind IN {_kinds_sql(SPEND_KINDS)} OR (t.kind = 'reversal' AND r.kind IN {_kinds_sql(SPEND_KINDS)})"
    " OR (t.kind = 'refund' AND e.amount > 0)"
)


def _songs_sql() -> str:
    if not apps.is_installed("downloads"):
        return "0"
    from downloads.selectors import songs_downloaded_sql  # downloads builds on accounts: import late

    return songs_downloaded_sql(user_id_column="u.id")


def _summary_columns() -> str:
    # Nothing posted since the remembered version: CASE skips both subqueries.
    bought = f"CASE WHEN a.version = %(since)s THEN 0 ELSE {_ledger_sum_sql(_BOUGHT)} END"
    spent = f"CASE WHEN a.version = %(since)s THEN 0 ELSE {_ledger_sum_sql(_SPENT)} END"
    return (
        "a.id, a.balance, a.held, a.version, a.created_at, c.code, c.name, c.decimal_places, "
        f"{bought}, {spent}, {_songs_sql()}"
    )


_ACCOUNT_JOINS = (
    f" LEFT JOIN {Account._meta.db_table} a ON a.user_id = u.id AND a.currency_id = %(currency)s"
    f" LEFT JOIN {Currency._meta.db_table} c ON c.code = %(currency)s"
)
_SUMMARY_WIDTH = 11


class _Statements(dict[str, PreparedStatement]):
    """Built on first use (the downloads app must be loaded), one per lookup (token, user)."""

    def __missing__(self, lookup: str) -> PreparedStatement:
        columns = _summary_columns()
        if lookup == "token":
            # Token, member, account, both ledger totals and the download count in one statement:
            # `POST /api/users/balance` is the hottest token endpoint.
            sql = (
                f"SELECT {_SESSION_BRIEF.sql}, {_USER_BRIEF.sql}, {columns}"
                f"{_TOKEN_TABLES}{_ACCOUNT_JOINS}{_TOKEN_WHERE}"
            )
        else:
            sql = f"SELECT {columns} FROM accounts_user u{_ACCOUNT_JOINS} WHERE u.id = %(user_id)s"  # noqa: S608
        statement = self[lookup] = PreparedStatement(f"goldbook_summary_{lookup}", sql)
        return statement


_STATEMENTS = _Statements()


def _summary_row(lookup: str, params: dict[str, Any], memo_key: tuple[str, object]) -> tuple[Any, ...] | None:
    """Run the summary statement, summing only the entries after the remembered version when
    there is one; the row's last columns carry the full sums either way."""
    for _attempt in range(2):
        known = _sums_memo.get(memo_key)
        params = {**params, "currency": settings.GOLDBOOK_CURRENCY_CODE, "since": known.version if known else 0}
        row = _STATEMENTS[lookup].fetchone(params)
        if row is None:
            return None
        head, tail = row[:-_SUMMARY_WIDTH], list(row[-_SUMMARY_WIDTH:])
        account_id, _, _, version, created_at = tail[:5]
        if account_id is None:  # no account yet: nothing ever moved
            return row
        bought, spent = int(tail[8]), int(tail[9])
        if known is not None:
            if (known.account_id, known.account_created_at) != (account_id, created_at) or version < known.version:
                _sums_memo.discard(memo_key)  # not the account (or snapshot) it was about: sum it all
                continue
            bought, spent = known.bought + bought, known.spent + spent
        if not connection.in_atomic_block:
            _sums_memo.put(memo_key, _LedgerSums(account_id, created_at, version, bought, spent))
        tail[8], tail[9] = bought, spent
        return (*head, *tail)
    raise AssertionError("unreachable: the second attempt sums everything")  # pragma: no cover


@functools.lru_cache(maxsize=64)
def _currency(code: str, name: str, places: int) -> Currency:
    """An unsaved Currency for a row's values (shared: summaries only read it)."""
    return Currency(code=code, name=name, decimal_places=places)


def _summary_from(email: str, tail: tuple[Any, ...] | None) -> AccountSummary:
    balance = held = purchased = spent = songs = 0
    if tail is None:  # no such member
        currency = default_currency()
    else:
        account_id, account_balance, account_held, _, _, code, name, places, bought, spent_sum, songs = tail
        currency = default_currency() if code is None else _currency(code, name, places)
        if account_id is not None:  # else no account yet: nothing ever moved
            balance, held = account_balance, account_held
            purchased, spent = max(0, int(bought)), max(0, -int(spent_sum))
    available = currency.to_decimal(balance - held)
    return AccountSummary(
        email=email,
        currency=currency,
        balance=currency.to_decimal(balance),
        held=currency.to_decimal(held),
        available=available,
        songs_available=songs_for(available),
        total_credits_purchased=currency.to_decimal(purchased),
        total_credits_spent=currency.to_decimal(spent),
        total_songs_downloaded=int(songs),
    )


def account_summary(*, user_id: int, email: str) -> AccountSummary:
    """Balance, held, spendable, the ledger totals and the songs downloaded, in one query."""
    row = _summary_row("user", {"user_id": user_id}, ("user", user_id))
    return _summary_from(email, None if row is None else row[-_SUMMARY_WIDTH:])


def api_session_with_summary(token: str) -> tuple[ApiSession, AccountSummary] | None:
    """`api_session_for_token` and `account_summary` of its member in ONE statement.

    Same rules as `api_session_for_token` (revoked, expired or deactivated is None at once):
    nothing about the session or the member is cached, only the ledger sums up to a version.
    """
    params = _token_params(token)
    if params is None:
        return None
    row = _summary_row("token", params, ("token", params["digest"]))
    if row is None:
        return None
    session = _session_from_row(row, _SESSION_BRIEF, _USER_BRIEF)
    return session, _summary_from(session.user.email, row[-_SUMMARY_WIDTH:])


# --- history ----------------------------------------------------------------------------------

# What the seed's API calls each transfer kind, where it differs from the kind itself.
TYPE_NAMES = {TransferKind.DOWNLOAD: "deduction"}
# Extra fields a cause may contribute to its rows (its `history_fields(transfer)`).
EXTRA_FIELDS = ("package_name", "notes", "songs_downloaded")


@dataclass(frozen=True)
class HistoryRow:
    id: int
    type: str
    kind: str
    label: str
    amount: Decimal
    balance_after: Decimal
    memo: str
    created_at: datetime
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class HistoryPage:
    rows: list[HistoryRow]
    total_count: int
    next_cursor: str | None


class InvalidCursor(ValueError):
    pass


def _cause_fields(entry: Entry) -> dict[str, Any]:
    transfer = entry.transfer
    if not transfer.cause_id:
        return {}
    cause = transfer.cause  # prefetched, one query per cause model for the whole page
    hook = getattr(cause, "history_fields", None)
    if cause is None or hook is None:
        return {}
    try:
        fields = hook(transfer)
    except Exception:  # a bug in another app's hook must not break the whole history
        logger.exception("Transfer #%s: history_fields of its cause failed", transfer.pk)
        return {}
    return dict(fields) if isinstance(fields, dict) else {}


def _row(entry: Entry, currency: Currency) -> HistoryRow:
    transfer = entry.transfer
    kind = transfer.kind
    return HistoryRow(
        id=entry.pk,
        type=TYPE_NAMES.get(kind, kind),
        kind=kind,
        label=TransferKind(kind).label if kind in TransferKind.values else kind,
        amount=currency.to_decimal(entry.amount),
        balance_after=currency.to_decimal(entry.balance_after or 0),
        memo=transfer.memo,
        created_at=entry.created_at,
        extra=_cause_fields(entry),
    )


def history_page(*, user_id: int, limit: int, offset: int = 0, cursor: str | None = None) -> HistoryPage:
    """A page of the member's history, newest first.

    With a `cursor` (from a previous page's `next_cursor`) the page is a keyset page and `offset`
    is ignored; otherwise it starts `offset` rows in. Either way `next_cursor` continues from the
    page's last row. Causes are prefetched (one query per cause model, not one per row).
    Raises InvalidCursor.
    """
    after_id = None
    if cursor:
        try:
            after_id = decode_cursor(cursor)
        except ValueError:  # wallet's decode_cursor lets int("²") through (str.isdigit); reported
            after_id = None
        if after_id is None:
            raise InvalidCursor(cursor)
    account = account_for_user(user_id=user_id)
    if account is None:
        return HistoryPage(rows=[], total_count=0, next_cursor=None)
    total = Entry.objects.filter(account=account).count()
    if after_id is None and offset > 0:
        # Turn the offset into the keyset position just before it, so both modes share one path.
        before = history_entries(account=account).values_list("id", flat=True)[offset - 1 : offset]
        ids = list(before)
        if not ids:
            return HistoryPage(rows=[], total_count=total, next_cursor=None)
        after_id = ids[0]
    page = history_after(account=account, limit=limit, after_id=after_id)
    prefetch_related_objects(page.entries, "transfer__cause")
    rows = [_row(entry, account.currency) for entry in page.entries]
    return HistoryPage(rows=rows, total_count=total, next_cursor=page.next_cursor)


def site_currency() -> Currency:
    return default_currency()
