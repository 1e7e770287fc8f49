"""The economy page's figures: one aggregate per chart or table (bench/economy.py times each on
100,000 members and 5,000,000 transfers).

Credits issued and spent, reward rules, unlocks and breakage come from hourly rollups of the
ledger plus the ledger itself for the hours not rolled up yet (rollups.py); the top members from
per-member running totals that leave a few candidates to sum exactly (members.py). Payments,
balances and lots are read directly: their tables are smaller, or a period's slice is.
Ledger reads filter transfers by `kind IN (…)` and a time range, so PostgreSQL walks the
(kind, created_at) index once per kind; whether a side of a transfer is a member is decided
against the handful of system account ids, not by a join. Totals come from the ledger; splits
(reward rules, referrals, unlocks) from the apps' tables, and what a split cannot place stays in
the total's own line, so the parts always add up.
"""

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from django.db.models import Count, QuerySet, Sum
from django.db.models.functions import TruncDate

from payments.models import Payment, PaymentStatus, RefundRequest, RefundStatus
from rewards.models import EarningRule, EventType
from wallet.lots import PROMOTIONAL, CreditCategory, CreditLot
from wallet.models import Account, TransferKind

from . import members, rollups

TOP = 10
SOLD = (PaymentStatus.COMPLETED, PaymentStatus.REFUNDED)  # a refunded sale was revenue once


@dataclass(frozen=True)
class Period:
    """Whole days `first`..`last` (inclusive) in `zone`."""

    first: date
    last: date
    zone: ZoneInfo

    @property
    def start(self) -> datetime:
        return datetime.combine(self.first, datetime.min.time(), tzinfo=self.zone)

    @property
    def end(self) -> datetime:
        return datetime.combine(self.last + timedelta(days=1), datetime.min.time(), tzinfo=self.zone)

    @property
    def days(self) -> list[date]:
        return [self.first + timedelta(days=i) for i in range((self.last - self.first).days + 1)]

    @property
    def slug(self) -> str:
        return f"{self.first:%Y-%m-%d}_{self.last:%Y-%m-%d}"


def _sold(period: Period) -> QuerySet[Payment]:
    return Payment.objects.filter(status__in=SOLD, completed_at__gte=period.start, completed_at__lt=period.end)


def revenue_by_day(period: Period) -> list[tuple[date, int, int]]:
    """(day, payments, US cents) for every day of the period, zeros included."""
    rows = (
        _sold(period)
        .annotate(day=TruncDate("completed_at", tzinfo=period.zone))
        .values("day")
        .annotate(n=Count("id"), cents=Sum("usd_cents"))
    )
    found = {r["day"]: (r["n"], r["cents"]) for r in rows}
    return [(day, *found.get(day, (0, 0))) for day in period.days]


def revenue_by_provider(period: Period) -> list[tuple[str, str, int, int]]:
    """(provider, coin, payments, US cents), largest first."""
    rows = _sold(period).values("provider", "coin").annotate(n=Count("id"), cents=Sum("usd_cents"))
    out = [(r["provider"], r["coin"], r["n"], r["cents"]) for r in rows]
    return sorted(out, key=lambda r: (-r[3], r[0], r[1]))


def packages_sold(period: Period) -> list[tuple[str, int, int]]:
    """(package name at purchase, payments, US cents), largest first."""
    rows = _sold(period).values("package_name").annotate(n=Count("id"), cents=Sum("usd_cents"))
    return sorted(((r["package_name"], r["n"], r["cents"]) for r in rows), key=lambda r: (-r[2], r[0]))


def refunds(period: Period) -> tuple[int, int]:
    """(refunds approved in the period, US cents of their payments)."""
    agg = RefundRequest.objects.filter(
        status=RefundStatus.APPROVED, decided_at__gte=period.start, decided_at__lt=period.end
    ).aggregate(n=Count("id"), cents=Sum("payment__usd_cents"))
    return int(agg["n"] or 0), int(agg["cents"] or 0)


# Credits into a member's account, by the transfer's kind: the source line it counts in.
SOURCE_OF = {
    TransferKind.PURCHASE: "purchase",
    TransferKind.CONVERSION: "purchase",
    TransferKind.BONUS: "bonus",
    TransferKind.EARN: "rewards",
    TransferKind.BOUNTY: "bounties_won",
    TransferKind.DOWNLOAD: "from_members",
    TransferKind.REDEEM: "from_members",
    TransferKind.ESCROW: "from_members",
    TransferKind.ADJUSTMENT: "adjustments",
    TransferKind.REFUND: "given_back",
    TransferKind.REVERSAL: "given_back",
    TransferKind.EXPIRY: "adjustments",
}
# Credits out of a member's account, by kind: the sink line.
SINK_OF = {
    TransferKind.DOWNLOAD: "downloads",
    TransferKind.REDEEM: "store",
    TransferKind.ESCROW: "bounties",
    TransferKind.BOUNTY: "bounties",
    TransferKind.ADJUSTMENT: "adjustments",
    TransferKind.REVERSAL: "taken_back",
    TransferKind.REFUND: "taken_back",
    TransferKind.PURCHASE: "taken_back",
    TransferKind.CONVERSION: "taken_back",
    TransferKind.BONUS: "taken_back",
    TransferKind.EARN: "taken_back",
    TransferKind.EXPIRY: "expired",
}


@dataclass
class Flows:
    """Credits (minor units) into members' accounts by source and out of them by sink."""

    sources: dict[str, int] = field(default_factory=dict)
    sinks: dict[str, int] = field(default_factory=dict)
    rules: list[tuple[str, int, int]] = field(default_factory=list)  # (rule, awards, coins)

    @property
    def issued(self) -> int:
        return sum(self.sources.values())

    @property
    def spent(self) -> int:
        return sum(self.sinks.values())


def credit_flows(period: Period) -> Flows:
    """Sources and sinks over the period, from the hourly rollups and the ledger's last hour."""
    sums = rollups.sums(period.start, period.end)
    sources: dict[str, int] = defaultdict(int)
    sinks: dict[str, int] = defaultdict(int)
    rules: dict[int, tuple[int, int]] = {}
    for (metric, key), (amount, count) in sums.items():
        if metric == "into":
            sources[SOURCE_OF.get(TransferKind(key), "adjustments")] += amount
        elif metric == "out":
            sinks[SINK_OF.get(TransferKind(key), "adjustments")] += amount
        elif metric == "rule":
            rules[int(key)] = (count, amount)
    flows = Flows()
    named = EarningRule.objects.filter(pk__in=rules).values_list("pk", "name", "event_type")
    by_coins = sorted(((name, event, *rules[pk]) for pk, name, event in named), key=lambda r: (-r[3], r[0]))
    flows.rules = [(name, n, coins) for name, _, n, coins in by_coins]
    referred = sum(coins for _, event, _, coins in by_coins if event == EventType.REFERRAL_CONVERTED)
    sources["rewards"] -= referred
    sources["referrals"] += referred
    unlocked = sums[("unlock", "")][0] if ("unlock", "") in sums else 0
    sinks["downloads"] -= unlocked
    sinks["unlocks"] += unlocked
    flows.sources = {k: v for k, v in sources.items() if v}
    flows.sinks = {k: v for k, v in sinks.items() if v}
    return flows


def _named(top: list[tuple[int, int]]) -> list[tuple[str, int]]:
    emails = dict(Account.objects.filter(pk__in=[account for account, _ in top]).values_list("id", "user__email"))
    return [(emails.get(account) or "?", amount) for account, amount in top]


def _top_of(figure: str, period: Period) -> list[tuple[str, int]]:
    """The ten accounts with the largest sums (ties: lowest account id first), with their emails:
    summed for the members the running totals leave in the running only (members.py), or from
    the ledger for everyone when they cannot tell."""
    found = members.candidates(figure, period.start, period.end)
    if found is not None:
        sums = members.exact(figure, period.start, period.end, found)
        return _named(sorted(((a, s) for a, s in sums.items() if s), key=lambda r: (-r[1], r[0]))[:TOP])
    side = members.FIGURES[figure][0]
    rows = members.ledger(figure, period.start, period.end).values(side).annotate(s=Sum("amount"))
    return _named([(r[side], int(r["s"])) for r in rows.order_by("-s", side)[:TOP]])


def top_earners(period: Period) -> list[tuple[str, int]]:
    """Members who earned most (rewards, bounties won, paid by others' downloads)."""
    return _top_of("earned", period)


def top_spenders(period: Period) -> list[tuple[str, int]]:
    """Members who spent most (downloads, unlocks, store, bounties offered)."""
    return _top_of("spent", period)


def biggest_balances() -> list[tuple[str, int, int]]:
    """(member, balance, of which paid) for the largest balances now."""
    top = list(
        Account.objects.filter(user__isnull=False, balance__gt=0)
        .order_by("-balance", "id")
        .values_list("id", "user__email", "balance")[:TOP]
    )
    paid = dict(
        CreditLot.objects.filter(account_id__in=[t[0] for t in top], category=CreditCategory.PAID)
        .values("account_id")
        .annotate(s=Sum("remaining"))
        .values_list("account_id", "s")
    )
    return [(email, int(balance), int(paid.get(pk) or 0)) for pk, email, balance in top]


@dataclass(frozen=True)
class Liability:
    """Credits (minor units) members hold now, by category, against their cached balances."""

    by_category: dict[str, int]
    expiring_soon: int  # promotional credits that expire within 30 days
    balances: int  # the sum of member accounts' balances (the ledger's view)
    breakage_total: int  # every credit that ever expired

    @property
    def paid(self) -> int:
        return self.by_category.get(CreditCategory.PAID, 0)

    @property
    def promotional(self) -> int:
        return sum(self.by_category.get(c, 0) for c in PROMOTIONAL)

    @property
    def lots_total(self) -> int:
        return sum(self.by_category.values())

    @property
    def reconciled(self) -> bool:
        return self.lots_total == self.balances


def liability(now: datetime) -> Liability:
    live = CreditLot.objects.filter(live=True)
    by_category = {c: 0 for c in CreditCategory.values}
    for row in live.values("category").annotate(s=Sum("remaining")):
        by_category[row["category"]] = int(row["s"])
    soon = live.filter(expires_at__lte=now + timedelta(days=30)).aggregate(s=Sum("remaining"))["s"]
    balances = Account.objects.filter(user__isnull=False).aggregate(s=Sum("balance"))["s"]
    everything = rollups.sums(datetime(1970, 1, 1, tzinfo=UTC), now)
    expired = everything[("out", TransferKind.EXPIRY.value)][0] if ("out", "expiry") in everything else 0
    return Liability(by_category, int(soon or 0), int(balances or 0), expired)
