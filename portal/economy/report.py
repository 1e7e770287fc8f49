"""The economy report: every figure of the page as tables of plain values (US dollars and
credits as Decimal, counts as int), which the page renders beside its charts and the CSV
download, the monthly command and the emailed report write as they are."""

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.conf import settings
from django.utils import timezone
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from payments.models import Provider
from wallet.lots import CreditCategory
from wallet.models import Currency
from wallet.selectors import default_currency

from ..models import EconomyRollupState, LedgerAuditRun
from . import queries
from .queries import Period

SOURCE_LABELS: dict[str, Promise] = {
    "purchase": _("Purchases"),
    "bonus": _("Purchase bonuses"),
    "rewards": _("Rewards (by rule)"),
    "referrals": _("Referrals"),
    "bounties_won": _("Bounties won"),
    "from_members": _("Paid by other members"),
    "adjustments": _("Staff adjustments"),
    "given_back": _("Refunds and reversals"),
}
SINK_LABELS: dict[str, Promise] = {
    "downloads": _("Downloads"),
    "unlocks": _("Unlocks"),
    "store": _("Store"),
    "bounties": _("Bounties offered"),
    "adjustments": _("Staff adjustments"),
    "taken_back": _("Reversed credits"),
    "expired": _("Expired"),
}
CATEGORY_LABELS: dict[str, Promise] = {c.value: c.label for c in CreditCategory}


def _cell(value: Any) -> str:
    if isinstance(value, int | Decimal):
        return f"{value:,}"
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def usd(cents: int) -> Decimal:
    return Decimal(cents).scaleb(-2).quantize(Decimal("0.01"))


def average(cents: int, count: int) -> Decimal:
    """US dollars per payment, to the cent (half up)."""
    if not count:
        return Decimal("0.00")
    return (Decimal(cents) / count).scaleb(-2).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


@dataclass
class Table:
    key: str  # names the table's CSV
    title: Any
    columns: list[Any]
    rows: list[list[Any]]
    chart: str = ""  # the chart drawn from this table (SVG), if any

    @property
    def numeric(self) -> list[bool]:
        """Per column: right-aligned (every value a number)."""
        return [all(isinstance(r[i], int | Decimal) for r in self.rows) for i in range(len(self.columns))]

    @property
    def cells(self) -> list[list[tuple[str, bool]]]:
        """Rows for the page: (text, numeric) per cell; numbers grouped, dates ISO."""
        numeric = self.numeric
        return [[(_cell(v), numeric[i]) for i, v in enumerate(row)] for row in self.rows]


@dataclass
class Report:
    period: Period
    currency: Currency
    generated_at: datetime
    figures: list[tuple[Any, Any]] = field(default_factory=list)  # headline (label, value)
    tables: list[Table] = field(default_factory=list)
    liability: queries.Liability | None = None
    flows: queries.Flows | None = None
    audit: LedgerAuditRun | None = None
    rollups: EconomyRollupState | None = None
    revenue: Decimal = Decimal("0.00")  # US dollars received in the period

    @property
    def reconciliation(self) -> tuple[Decimal, Decimal]:
        """(credits in the members' lots, their accounts' balances): equal when reconciled."""
        owed = self.liability
        if owed is None:
            return Decimal(0), Decimal(0)
        return self.currency.to_decimal(owed.lots_total), self.currency.to_decimal(owed.balances)

    def table(self, key: str) -> Table:
        return next(t for t in self.tables if t.key == key)


def paid_usd(credits: Decimal) -> Decimal:
    """What paid credits are worth in US dollars at PAYMENTS_CREDITS_PER_USD."""
    return (credits / Decimal(settings.PAYMENTS_CREDITS_PER_USD)).quantize(Decimal("0.01"))


def build(period: Period) -> Report:
    currency = default_currency()
    cr = currency.to_decimal
    report = Report(period=period, currency=currency, generated_at=timezone.now())
    by_day = queries.revenue_by_day(period)
    providers = dict(Provider.choices)
    revenue = sum(cents for _, _, cents in by_day)
    sales = sum(n for _, n, _ in by_day)
    refunded, refunded_cents = queries.refunds(period)
    flows = queries.credit_flows(period)
    owed = report.liability = queries.liability(report.generated_at)
    report.audit = LedgerAuditRun.objects.first()
    report.rollups = EconomyRollupState.objects.filter(pk=1).first()
    expired = flows.sinks.get("expired", 0)
    report.revenue = usd(revenue)
    report.figures = [
        (_("Revenue (USD)"), report.revenue),
        (_("Payments"), sales),
        (_("Average purchase (USD)"), average(revenue, sales)),
        (_("Refunds"), refunded),
        (_("Refunded (USD)"), usd(refunded_cents)),
        (_("Credits issued"), cr(flows.issued)),
        (_("Credits spent"), cr(flows.spent - expired)),
        (_("Expired credits"), cr(expired)),
        (_("Unspent paid credits"), cr(owed.paid)),
        (_("Owed for paid credits (USD)"), paid_usd(cr(owed.paid))),
        (_("Promotional credits outstanding"), cr(owed.promotional)),
        (_("Expiring within 30 days"), cr(owed.expiring_soon)),
        (_("Breakage (all expired credits)"), cr(owed.breakage_total)),
    ]
    t = report.tables.append
    day_cols = [_("Day"), _("Payments"), _("Revenue (USD)")]
    t(Table("revenue_by_day", _("Revenue by day"), day_cols, [[d, n, usd(c)] for d, n, c in by_day]))
    t(
        Table(
            "revenue_by_provider",
            _("Revenue by provider and coin"),
            [_("Provider"), _("Coin"), _("Payments"), _("Revenue (USD)")],
            [
                [str(providers.get(p, p)), coin or "—", n, usd(c)]
                for p, coin, n, c in queries.revenue_by_provider(period)
            ],
        )
    )
    t(
        Table(
            "packages",
            _("Packages sold"),
            [_("Package"), _("Payments"), _("Revenue (USD)"), _("Average (USD)")],
            [[name, n, usd(c), average(c, n)] for name, n, c in queries.packages_sold(period)],
        )
    )
    report.flows = flows
    flow_rows = [
        [str(_("Issued")), str(SOURCE_LABELS[k]), cr(v)] for k, v in sorted(flows.sources.items(), key=_larger)
    ]
    flow_rows += [[str(_("Spent")), str(SINK_LABELS[k]), cr(v)] for k, v in sorted(flows.sinks.items(), key=_larger)]
    flow_cols = [_("Direction"), _("Source or sink"), _("Credits")]
    t(Table("credit_flows", _("Credits issued and spent"), flow_cols, flow_rows))
    t(
        Table(
            "liability",
            _("Outstanding credits now"),
            [_("Category"), _("Credits"), _("Value (USD)")],
            [
                [str(CATEGORY_LABELS[c]), cr(v), paid_usd(cr(v)) if c == CreditCategory.PAID else Decimal("0.00")]
                for c, v in owed.by_category.items()
            ],
        )
    )
    t(Table("top_earners", _("Top earners"), [_("Member"), _("Credits")], _members(queries.top_earners(period), cr)))
    t(Table("top_spenders", _("Top spenders"), [_("Member"), _("Credits")], _members(queries.top_spenders(period), cr)))
    t(
        Table(
            "biggest_balances",
            _("Biggest balances"),
            [_("Member"), _("Balance"), _("Of which paid")],
            [[email, cr(b), cr(p)] for email, b, p in queries.biggest_balances()],
        )
    )
    t(
        Table(
            "reward_rules",
            _("Reward rules by coins paid"),
            [_("Rule"), _("Awards"), _("Coins")],
            [[name, n, cr(c)] for name, n, c in flows.rules],
        )
    )
    return report


def _larger(item: tuple[str, int]) -> tuple[int, str]:
    return (-item[1], item[0])


def _members(rows: list[tuple[str, int]], cr: Any) -> list[list[Any]]:
    return [[email, cr(amount)] for email, amount in rows]


def month_period(month: date, zone: Any) -> Period:
    """The calendar month containing `month`, in `zone`."""
    first = month.replace(day=1)
    following = (first.replace(day=28) + timedelta(days=4)).replace(day=1)
    return Period(first, following - timedelta(days=1), zone)
