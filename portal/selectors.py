"""Reads that compose several apps: a member's balance summary (wallet's ledger, downloads' song
count) in one statement, and their transaction history with the details each app declares."""

import functools
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.contrib.contenttypes.prefetch import GenericPrefetch
from django.db.models import prefetch_related_objects
from django.utils import timezone

from accounts.models import ApiSession
from accounts.selectors import SESSION_BRIEF, TOKEN_TABLES, TOKEN_WHERE, USER_BRIEF, session_from_row, token_params
from core.db import PreparedStatement
from core.registry import history_detail_for, history_models, history_related_for
from downloads.selectors import songs_downloaded_sql
from wallet import statement
from wallet.models import Account, Currency, Entry, TransferKind
from wallet.selectors import (
    HistoryFilter,
    account_for_user,
    decode_cursor,
    default_currency,
    history_after,
    history_entries,
    songs_for,
)

logger = logging.getLogger(__name__)


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
    # The balance by credit category (issue 13): paid is owed to the member, the rest promotional.
    paid: Decimal = Decimal(0)
    promotional: Decimal = Decimal(0)
    expiring_soon: Decimal = Decimal(0)


# --- the summary statement ----------------------------------------------------------------------

_ACCOUNT_JOINS = (
    f" LEFT JOIN {Account._meta.db_table} a ON a.user_id = u.id AND a.currency_id = %(currency)s"
    f" LEFT JOIN {Currency._meta.db_table} c ON c.code = %(currency)s"
)
# wallet's summary columns, then the currency, the songs downloaded and the credit categories.
_TAIL = statement.SUMMARY_WIDTH + 4 + statement.CATEGORY_WIDTH


def _columns() -> str:
    songs = songs_downloaded_sql(user_id_column="u.id")
    categories = statement.category_columns()
    return f"{statement.summary_columns()}, c.code, c.name, c.decimal_places, {songs}, {categories}"


class _Statements(dict[str, PreparedStatement]):
    """Built on first use (every app loaded), one per lookup: by token, by member."""

    def __missing__(self, lookup: str) -> PreparedStatement:
        if lookup == "token":
            # Token, member, account, both ledger totals and the download count in one statement:
            # `POST /api/users/balance` is the hottest token endpoint.
            sql = (
                f"SELECT {SESSION_BRIEF.sql}, {USER_BRIEF.sql}, {_columns()}{TOKEN_TABLES}{_ACCOUNT_JOINS}{TOKEN_WHERE}"
            )
        else:
            sql = f"SELECT {_columns()} FROM accounts_user u{_ACCOUNT_JOINS} WHERE u.id = %(user_id)s"  # noqa: S608
        prepared = self[lookup] = PreparedStatement(f"goldbook_summary_{lookup}", sql)
        return prepared


_STATEMENTS = _Statements()


def _summary_row(lookup: str, params: dict[str, Any], memo_key: tuple[str, object]) -> tuple[Any, ...] | None:
    """Run the summary statement, summing only the entries after the version wallet's memo
    remembers for this key; the row's ledger columns carry the full sums either way."""
    for _attempt in range(2):
        params = {
            **params,
            "currency": settings.GOLDBOOK_CURRENCY_CODE,
            "since": statement.since_for(memo_key),
            "soon": timezone.now() + timedelta(days=settings.GOLDBOOK_CREDIT_EXPIRY_NOTICE_DAYS),
        }
        row = _STATEMENTS[lookup].fetchone(params)
        if row is None:
            return None
        head, tail = row[:-_TAIL], list(row[-_TAIL:])
        if statement.complete(memo_key, tail):
            return (*head, *tail)
    raise AssertionError("unreachable: the second attempt sums everything")  # pragma: no cover


@functools.lru_cache(maxsize=64)
def _currency(code: str, name: str, places: int) -> Currency:
    """An unsaved Currency for a row's values (shared: summaries only read it)."""
    return Currency(code=code, name=name, decimal_places=places)


def _summary_from(email: str, tail: tuple[Any, ...] | None) -> AccountSummary:
    balance = held = purchased = spent = songs = paid = soon = 0
    if tail is None:  # no such member
        currency = default_currency()
    else:
        account_id, account_balance, account_held, _, _, bought, spent_sum, code, name, places, songs, *lots = tail
        currency = default_currency() if code is None else _currency(code, name, places)
        if account_id is not None:  # else no account yet: nothing ever moved
            balance, held = account_balance, account_held
            purchased, spent = max(0, int(bought)), max(0, -int(spent_sum))
            paid, soon = int(lots[0] or 0), int(lots[1] or 0)
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
        paid=currency.to_decimal(paid),
        promotional=currency.to_decimal(balance - paid),
        expiring_soon=currency.to_decimal(soon),
    )


def account_summary(*, user_id: int, email: str) -> AccountSummary:
    """Balance, held, spendable, the ledger totals and the songs downloaded, in one query."""
    row = _summary_row("user", {"user_id": user_id}, ("user", user_id))
    return _summary_from(email, None if row is None else row[-_TAIL:])


def api_session_with_summary(token: str) -> tuple[ApiSession, AccountSummary] | None:
    """`accounts.selectors.api_session_for_token` and `account_summary` of its member in ONE
    statement. Same rules (revoked, expired or deactivated is None at once): nothing about the
    session or the member is cached, only the ledger sums up to a version."""
    params = token_params(token)
    if params is None:
        return None
    row = _summary_row("token", params, ("token", params["digest"]))
    if row is None:
        return None
    session = session_from_row(row, SESSION_BRIEF, USER_BRIEF)
    return session, _summary_from(session.user.email, row[-_TAIL:])


# --- history ------------------------------------------------------------------------------------

# What the seed's API calls each transfer kind, where it differs from the kind itself.
TYPE_NAMES: dict[str, str] = {TransferKind.DOWNLOAD: "deduction"}
# Extra fields the apps' history details may contribute to a row (core.registry).
EXTRA_FIELDS = ("package_name", "notes", "songs_downloaded")
# Rows the CSV export reads per statement (keyset chunks: memory stays flat however long the history).
EXPORT_CHUNK = 500


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

    @property
    def subject(self) -> str:
        """What was bought or earned: the item, the package, the rule, the bounty, the reward (the
        `subject`, `package_name` or `notes` the cause's app declares), else the transfer's memo
        (an adjustment's reason)."""
        extra = self.extra
        return str(extra.get("subject") or extra.get("package_name") or extra.get("notes") or self.memo or "")


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
    detail = None if cause is None else history_detail_for(type(cause))
    if detail is None:
        return {}
    try:
        return dict(detail(cause, transfer))
    except Exception:  # a bug in another app's details must not break the whole history
        logger.exception("Transfer #%s: history details of its cause failed", transfer.pk)
        return {}


def _prefetch_causes(entries: list[Entry]) -> None:
    """Each transfer's cause, one query per cause model, with the relations its history detail
    reads (`Award.rule`, `Redemption.reward`, `DownloadRecord.item`) joined in, not one query per
    row; and without the models' default ordering, which a lookup by primary keys does not need
    (compiling it was most of the prefetch's CPU in the load test)."""
    querysets = [
        model._base_manager.select_related(*history_related_for(model)).order_by() for model in history_models()
    ]
    prefetch_related_objects(entries, GenericPrefetch("transfer__cause", querysets))


def _row(entry: Entry, currency: Currency) -> HistoryRow:
    transfer = entry.transfer
    kind = transfer.kind
    return HistoryRow(
        id=entry.pk,
        type=TYPE_NAMES.get(kind, kind),
        kind=kind,
        label=str(TransferKind(kind).label) if kind in TransferKind.values else kind,
        amount=currency.to_decimal(entry.amount),
        balance_after=currency.to_decimal(entry.balance_after or 0),
        memo=transfer.memo,
        created_at=entry.created_at,
        extra=_cause_fields(entry),
    )


def history_page(
    *,
    user_id: int,
    limit: int,
    offset: int = 0,
    cursor: str | None = None,
    filters: HistoryFilter | None = None,
) -> HistoryPage:
    """A page of the member's history, newest first, only the entries `filters` keeps.

    With a `cursor` (from a previous page's `next_cursor`) the page is a keyset page and `offset`
    is ignored; otherwise it starts `offset` rows in. Either way `next_cursor` continues from the
    page's last row. Causes are prefetched (one query per cause model, not one per row).
    Raises InvalidCursor.
    """
    after_id = None
    if cursor:
        after_id = decode_cursor(cursor)
        if after_id is None:
            raise InvalidCursor(cursor)
    account = account_for_user(user_id=user_id)
    if account is None:
        return HistoryPage(rows=[], total_count=0, next_cursor=None)
    entries = history_entries(account=account, filters=filters)
    total = entries.count()
    if after_id is None and offset > 0:
        # Turn the offset into the keyset position just before it, so both modes share one path.
        ids = list(entries.values_list("id", flat=True)[offset - 1 : offset])
        if not ids:
            return HistoryPage(rows=[], total_count=total, next_cursor=None)
        after_id = ids[0]
    page = history_after(account=account, limit=limit, after_id=after_id, filters=filters)
    _prefetch_causes(page.entries)
    rows = [_row(entry, account.currency) for entry in page.entries]
    return HistoryPage(rows=rows, total_count=total, next_cursor=page.next_cursor)


def history_rows(*, user_id: int, filters: HistoryFilter | None = None) -> Iterator[HistoryRow]:
    """Every history row of the member that `filters` keeps, newest first, read in keyset chunks
    (for the CSV export: nothing holds the whole history in memory)."""
    account = account_for_user(user_id=user_id)
    if account is None:
        return
    after_id: int | None = None
    while True:
        entries = list(
            history_entries(account=account, filters=filters).filter(
                **({} if after_id is None else {"id__lt": after_id})
            )[:EXPORT_CHUNK]
        )
        if not entries:
            return
        _prefetch_causes(entries)
        for entry in entries:
            yield _row(entry, account.currency)
        if len(entries) < EXPORT_CHUNK:
            return
        after_id = entries[-1].pk


def live_api_sessions(*, user_id: int) -> int:
    """How many app sessions (API tokens) of the member are live, for the dashboard."""
    return ApiSession.objects.filter(user_id=user_id, revoked_at__isnull=True).count()
