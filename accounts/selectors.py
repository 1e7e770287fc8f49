"""Reads for accounts: token lookup, the balance summary and the transaction history rows shown
by `/api/users/*` and the dashboard. Everything money here comes from the ledger."""

import logging
from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_DOWN, Decimal
from typing import Any

from django.conf import settings
from django.db import connection
from django.db.models import prefetch_related_objects
from django.utils import timezone

from wallet.models import Account, Currency, Entry, TransferKind
from wallet.selectors import (
    account_for_user,
    decode_cursor,
    default_currency,
    history_after,
    history_entries,
)

from .models import ApiSession
from .services import TOKEN_PREFIX, token_digest

logger = logging.getLogger(__name__)


def api_session_for_token(token: str) -> ApiSession | None:
    """The live session for a raw token: one indexed lookup by digest, no bcrypt."""
    if not token.startswith(TOKEN_PREFIX) or len(token) > 200:
        return None
    session = (
        ApiSession.objects.select_related("user")
        .filter(token_digest=token_digest(token), revoked_at__isnull=True, expires_at__gt=timezone.now())
        .first()
    )
    if session is None or not session.user.is_active:
        return None
    return session


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


def _total_songs_downloaded(*, user_id: int) -> int:
    from downloads.selectors import total_songs_downloaded  # downloads builds on accounts: import late

    return total_songs_downloaded(user_id=user_id)


def songs_for(amount: Decimal) -> int:
    """How many songs `amount` pays for at GOLDBOOK_SONG_PRICE, rounded down. Decimal only."""
    price = Decimal(settings.GOLDBOOK_SONG_PRICE)
    if price <= 0 or amount <= 0:
        return 0
    return int((amount / price).to_integral_value(rounding=ROUND_DOWN))


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


def _in(values: tuple[str, ...]) -> tuple[str, list[str]]:
    return "(" + ", ".join(["%s"] * len(values)) + ")", [str(v) for v in values]


def _summary_sql() -> tuple[str, list[str]]:
    """One statement for the balance and both ledger totals of a member's account.

    purchased = credits of kind purchase/bonus − debits reversing those (refunded purchases);
    spent = debits of SPEND_KINDS − credits reversing those − refunds credited back. A reversal
    entry carries the opposite sign of the transfer it reverses, so a plain signed sum over "the
    kind, or the kind of what it reverses" nets them out.

    Hand-written because this backs `POST /api/users/balance`, the hottest token endpoint:
    building the same query through the ORM (two annotated subqueries) cost several times the
    query itself on every request. Portable SQL (CASE, no FILTER): it also runs on SQLite.
    """
    account, currency = Account._meta.db_table, Currency._meta.db_table
    entry, transfer = Entry._meta.db_table, Entry._meta.get_field("transfer").related_model._meta.db_table
    bought_in, bought = _in(PURCHASE_KINDS)
    spend_in, spend = _in(SPEND_KINDS)
    sql = f"""
        SELECT a.id, a.balance, a.held, c.code, c.name, c.decimal_places,
          COALESCE((
            SELECT SUM(CASE WHEN t.kind IN {bought_in} OR (t.kind = %s AND r.kind IN {bought_in})
                            THEN e.amount ELSE 0 END)
            FROM {entry} e JOIN {transfer} t ON t.id = e.transfer_id
            LEFT JOIN {transfer} r ON r.id = t.reverses_id
            WHERE e.account_id = a.id), 0),
          COALESCE((
            SELECT SUM(CASE WHEN t.kind IN {spend_in} OR (t.kind = %s AND r.kind IN {spend_in})
                              OR (t.kind = %s AND e.amount > 0)
                            THEN e.amount ELSE 0 END)
            FROM {entry} e JOIN {transfer} t ON t.id = e.transfer_id
            LEFT JOIN {transfer} r ON r.id = t.reverses_id
            WHERE e.account_id = a.id), 0)
        FROM {account} a JOIN {currency} c ON c.code = a.currency_id
        WHERE a.user_id = %s AND a.currency_id = %s
    """  # noqa: S608 -- table names come from model metadata; every value is a parameter
    params = [*bought, TransferKind.REVERSAL, *bought, *spend, TransferKind.REVERSAL, *spend, TransferKind.REFUND]
    return sql, params


def account_summary(*, user_id: int, email: str) -> AccountSummary:
    """Balance, held, spendable and the ledger totals of the member, in one query."""
    sql, params = _summary_sql()
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, user_id, settings.GOLDBOOK_CURRENCY_CODE])
        row = cursor.fetchone()
    if row is None:  # no account yet: nothing ever moved
        currency = default_currency()
        balance = held = purchased = spent = 0
    else:
        _, balance, held, code, name, places, purchased, spent = row
        currency = Currency(code=code, name=name, decimal_places=places)
        purchased, spent = max(0, int(purchased)), max(0, -int(spent))
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
        total_songs_downloaded=_total_songs_downloaded(user_id=user_id),
    )


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
