"""Reads of the ledger: balances, holds and history. Nothing here writes."""

import base64
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_DOWN, Decimal

from django.conf import settings
from django.db.models import QuerySet, Sum
from django.utils import timezone

from .lots import CreditCategory, CreditLot, LotEntry
from .models import Account, Currency, Entry, Hold, HoldStatus, KindCategory, MemberHold, Transfer, kinds_in


def default_currency() -> Currency:
    """The site's currency (created by migration 0003; its name follows the setting)."""
    return Currency.objects.get(pk=settings.GOLDBOOK_CURRENCY_CODE)


def songs_for(amount: Decimal) -> int:
    """How many songs `amount` pays for at GOLDBOOK_SONG_PRICE, rounded down. Decimal only."""
    price = Decimal(settings.GOLDBOOK_SONG_PRICE)
    if price <= 0 or amount <= 0:
        return 0
    return int((amount / price).to_integral_value(rounding=ROUND_DOWN))


def account_for_user(*, user_id: int, currency_code: str | None = None) -> Account | None:
    code = currency_code or settings.GOLDBOOK_CURRENCY_CODE
    return Account.objects.select_related("currency").filter(user_id=user_id, currency_id=code).first()


@dataclass(frozen=True)
class Balance:
    currency: Currency
    balance: int
    held: int

    @property
    def available(self) -> int:
        return self.balance - self.held

    @property
    def balance_decimal(self) -> Decimal:
        return self.currency.to_decimal(self.balance)

    @property
    def held_decimal(self) -> Decimal:
        return self.currency.to_decimal(self.held)

    @property
    def available_decimal(self) -> Decimal:
        return self.currency.to_decimal(self.available)


def balance_for_user(*, user_id: int, currency_code: str | None = None) -> Balance:
    """The user's balance, held amount and available (spendable) balance. Zero before first use."""
    account = account_for_user(user_id=user_id, currency_code=currency_code)
    if account is None:
        currency = Currency.objects.get(pk=currency_code or settings.GOLDBOOK_CURRENCY_CODE)
        return Balance(currency=currency, balance=0, held=0)
    return Balance(currency=account.currency, balance=account.balance, held=account.held)


def system_account_balance(*, account: Account) -> int:
    """A system account's balance is the sum of its entries (they are never cached; see Account)."""
    return Entry.objects.filter(account=account).aggregate(total=Sum("amount"))["total"] or 0


def pending_holds(*, account: Account) -> QuerySet[Hold]:
    return Hold.objects.filter(account=account, status=HoldStatus.PENDING).order_by("-id")


def _encode_cursor(entry_id: int) -> str:
    return base64.urlsafe_b64encode(f"e{entry_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int | None:
    """The entry id a cursor points after, or None when the cursor is not one of ours."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (ValueError, UnicodeDecodeError):
        return None
    if not raw.startswith("e") or not raw[1:].isascii() or not raw[1:].isdigit() or len(raw) > 21:
        return None
    return int(raw[1:])


@dataclass(frozen=True)
class HistoryPage:
    entries: list[Entry]
    next_cursor: str | None


@dataclass(frozen=True)
class HistoryFilter:
    """Which entries a history shows: transfers of some kind categories (none = all), created in
    [since, until) (aware datetimes; None = open)."""

    categories: tuple[KindCategory, ...] = ()
    since: datetime | None = None
    until: datetime | None = None

    def apply(self, qs: QuerySet[Entry]) -> QuerySet[Entry]:
        if self.categories:
            qs = qs.filter(transfer__kind__in=kinds_in(*self.categories))
        if self.since is not None:
            qs = qs.filter(created_at__gte=self.since)
        if self.until is not None:
            qs = qs.filter(created_at__lt=self.until)
        return qs


def history_entries(*, account: Account, filters: HistoryFilter | None = None) -> QuerySet[Entry]:
    """The account's entries newest first, with their transfers (one query, no N+1)."""
    qs = Entry.objects.filter(account=account).select_related("transfer", "transfer__cause_type").order_by("-id")
    return qs if filters is None else filters.apply(qs)


def history_after(
    *, account: Account, limit: int, after_id: int | None = None, filters: HistoryFilter | None = None
) -> HistoryPage:
    """Keyset page of the account's history: page 1000 costs what page 1 costs.

    `after_id` is the id of the last entry already shown (from `decode_cursor`).
    """
    qs = history_entries(account=account, filters=filters)
    if after_id is not None:
        qs = qs.filter(id__lt=after_id)
    rows = list(qs[: limit + 1])
    more = len(rows) > limit
    rows = rows[:limit]
    return HistoryPage(entries=rows, next_cursor=_encode_cursor(rows[-1].id) if more and rows else None)


# Statement totals (purchased, spent, earned, held): defined with the SQL that sums them.
from .statement import StatementTotals, statement_totals  # noqa: E402

__all__ = ["StatementTotals", "statement_totals"]


@dataclass(frozen=True)
class CreditSplit:
    """A balance by credit category (minor units): paid is owed to the member, the rest is
    promotional; `expiring_soon` is the promotional part that expires within the notice period."""

    paid: int
    bonus: int
    earned: int
    granted: int
    expiring_soon: int

    @property
    def promotional(self) -> int:
        return self.bonus + self.earned + self.granted


def credit_split(*, account_id: int | None, now: datetime | None = None) -> CreditSplit:
    sums = dict.fromkeys(CreditCategory.values, 0)
    soon = 0
    if account_id is not None:
        horizon = (now or timezone.now()) + timedelta(days=settings.GOLDBOOK_CREDIT_EXPIRY_NOTICE_DAYS)
        for category, remaining, expires_at in CreditLot.objects.filter(account_id=account_id, live=True).values_list(
            "category", "remaining", "expires_at"
        ):
            sums[category] += remaining
            if expires_at is not None and expires_at <= horizon:
                soon += remaining
    return CreditSplit(
        paid=sums[CreditCategory.PAID],
        bonus=sums[CreditCategory.BONUS],
        earned=sums[CreditCategory.EARNED],
        granted=sums[CreditCategory.GRANTED],
        expiring_soon=soon,
    )


def reversible_amount(*, transfer: Transfer) -> int:
    """How much of a credit a reversal can take back now: what its account has available, and
    at most what is left in the categories that credit went to."""
    account = Account.objects.get(pk=transfer.credit_account_id)
    categories = set(
        LotEntry.objects.filter(transfer=transfer, amount__gt=0, lot__account=account).values_list(
            "lot__category", flat=True
        )
    )
    if not categories:
        return account.available
    left = CreditLot.objects.filter(account=account, category__in=categories).aggregate(s=Sum("remaining"))["s"] or 0
    return min(account.available, int(left))


def member_on_hold(*, user_id: int) -> bool:
    """Whether the member is on hold for review (their spending and payouts are frozen)."""
    return Account.objects.filter(user_id=user_id, frozen=True).exists()


def member_hold_history(*, user_id: int) -> QuerySet[MemberHold]:
    """Every hold and clearance of the member, newest first, with who decided."""
    return MemberHold.objects.filter(user_id=user_id).select_related("created_by").order_by("-id")


def members_on_hold(*, limit: int = 100) -> list[MemberHold]:
    """The latest hold of each member currently on hold, newest first (at most `limit`)."""
    user_ids = list(Account.objects.filter(frozen=True).values_list("user_id", flat=True).distinct()[:limit])
    latest: dict[int, MemberHold] = {}
    holds = MemberHold.objects.filter(user_id__in=user_ids, action="hold").select_related("user", "created_by")
    for hold in holds.order_by("-id"):
        latest.setdefault(hold.user_id, hold)
    return sorted(latest.values(), key=lambda h: -h.pk)
