"""Per-member running totals for the top earners and spenders (issue 13): a 366-day period over
5,000,000 transfers took 2.5-3.9 s read from the ledger (bench/economy.py).

`MemberRunningTotal` holds, per member account, the credits earned (EARNING_KINDS credited to a
member) and spent (SPENDING_KINDS debited from a member) before each UTC month start, and before
the refresh mark `members_until` for the open month, for every member with anything before that
point (no row: nothing yet). A member's figure between two of those points is the difference of
its two running totals. The open month's rows are stored under `at = OPEN` (their time is the
mark): a refresh rewrites only the members whose totals moved since the last one (a few thousand
rows, instead of every member's row at a new time: 100,000 rows every 10 minutes).

For a period, the whole points inside it give each member a LOW figure (≤ its exact sum), the
points covering its ends plus the ledger after the mark give a HIGH one (≥ it). Ten members have
an exact sum ≥ the 10th-largest LOW, so only members whose HIGH reaches it can be in the top ten:
`candidates` names them, and `exact` sums theirs only: the running totals between the inner
points plus the ledger at the period's ends (the running totals are reconciled with the ledger). Where the totals
cannot bound the period (not built, behind, whole months covering less than half of it, fewer
than ten members with a LOW, too many candidates) it returns None and the page reads the ledger
for everyone, as before.
"""

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db.models import Case, F, QuerySet, Sum, When
from django.db.models.functions import TruncMonth
from django.utils import timezone

from wallet.models import Account, Transfer, TransferKind

from ..models import EconomyRollupState, MemberRunningTotal

TOP = 10
EARNING_KINDS = (TransferKind.EARN, TransferKind.BOUNTY, TransferKind.DOWNLOAD)
SPENDING_KINDS = (TransferKind.DOWNLOAD, TransferKind.REDEEM, TransferKind.ESCROW)
# The ledger side, kinds and the running total's field of each figure.
FIGURES = {"earned": ("credit_account_id", EARNING_KINDS), "spent": ("debit_account_id", SPENDING_KINDS)}
OVERLAP = timedelta(hours=2)  # as the hourly rollups: a late commit lands before the mark
STALE = timedelta(hours=3)  # a mark older than this: read the ledger instead
# Bounds worth using: whole points spanning at least half the period (a 30-day period read from
# the ledger takes 50-160 ms, through loose bounds 460-630 ms), and few candidates.
MAX_CANDIDATES = 2000
OPEN = datetime(9999, 1, 1, tzinfo=UTC)  # the `at` of the rows at the mark (`members_until`)
Totals = dict[int, list[int]]  # account id → [earned, spent]


def floor_month(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def next_month(month: datetime) -> datetime:
    return (month + timedelta(days=32)).replace(day=1)


def ceil_month(moment: datetime) -> datetime:
    floor = floor_month(moment)
    return floor if floor == moment else next_month(floor)


def system_ids() -> list[int]:
    return list(Account.objects.filter(user__isnull=True).values_list("id", flat=True))


def ledger(figure: str, start: datetime, end: datetime) -> QuerySet[Transfer]:
    """The transfers that count in `figure` ("earned" or "spent") over [start, end)."""
    side, kinds = FIGURES[figure]
    rows = Transfer.objects.filter(kind__in=kinds, created_at__gte=start, created_at__lt=end)
    return rows.exclude(**{f"{side}__in": system_ids()})


def _monthly(start: datetime, end: datetime) -> dict[datetime, Totals]:
    """Per UTC month in [start, end), per member: [earned, spent]."""
    out: dict[datetime, Totals] = {}
    for i, (figure, (side, _kinds)) in enumerate(FIGURES.items()):
        rows = ledger(figure, start, end).annotate(m=TruncMonth("created_at", tzinfo=UTC))
        for r in rows.values("m", side).annotate(s=Sum("amount")).values_list("m", side, "s"):
            out.setdefault(floor_month(r[0]), {}).setdefault(r[1], [0, 0])[i] += int(r[2])
    return out


def running(start: datetime, until: datetime, base: Totals) -> Iterator[tuple[datetime, Totals]]:
    """The running totals at every point after the month start `start` up to `until` (each month
    start, then `until` itself), from `base`, the totals at `start`. Yields the same dict, updated."""
    monthly = _monthly(start, until)
    month = start
    while month < until:
        for account, (earned, spent) in monthly.get(month, {}).items():
            totals = base.setdefault(account, [0, 0])
            totals[0] += earned
            totals[1] += spent
        month = next_month(month)
        yield min(month, until), base


def _stored(at: datetime) -> Totals:
    rows = MemberRunningTotal.objects.filter(at=at).values_list("account_id", "earned", "spent")
    return {account: [earned, spent] for account, earned, spent in rows}


def stored_point(at: datetime, mark: datetime | None) -> datetime:
    """The `at` under which the running totals at `at` are stored (the mark's: OPEN)."""
    return OPEN if at == mark else at


def rebuild(state: EconomyRollupState, until: datetime) -> int:
    """Recount the running totals after the month start before the mark (less OVERLAP) up to
    `until`; the caller holds the state row locked. Month starts passed since the last refresh
    are written whole (once a month); the rows at the mark only where a member's totals moved.
    Returns the rows written."""
    if state.members_until is not None:
        start: datetime | None = floor_month(state.members_until - OVERLAP)
    else:
        oldest = Transfer.objects.order_by("created_at").values_list("created_at", flat=True).first()
        start = floor_month(oldest) if oldest else None
    written = 0
    if start is not None and start < until:
        MemberRunningTotal.objects.filter(at__gt=start, at__lt=OPEN).delete()
        for at, totals in running(start, until, _stored(start)):
            if at < until:
                rows = [MemberRunningTotal(at=at, account_id=a, earned=e, spent=s) for a, (e, s) in totals.items()]
                MemberRunningTotal.objects.bulk_create(rows, batch_size=5000)
                written += len(rows)
            else:
                written += _update_open(totals)
    state.members_until = until
    return written


def _update_open(totals: Totals) -> int:
    """Make the rows at the mark say `totals`, writing only the members whose totals moved."""
    stored = _stored(OPEN)
    moved = [
        MemberRunningTotal(at=OPEN, account_id=account, earned=earned, spent=spent)
        for account, (earned, spent) in totals.items()
        if stored.get(account) != [earned, spent]
    ]
    key, figures = ["at", "account"], ["earned", "spent"]
    MemberRunningTotal.objects.bulk_create(
        moved, batch_size=5000, update_conflicts=True, unique_fields=key, update_fields=figures
    )
    gone = set(stored) - set(totals)  # cannot happen while the totals only grow; kept exact anyway
    if gone:
        MemberRunningTotal.objects.filter(at=OPEN, account_id__in=gone).delete()
    return len(moved) + len(gone)


def differences(limit: int = 20) -> list[str]:
    """Running totals that differ from the ledger, at every stored point (none: they agree)."""
    mark = EconomyRollupState.objects.filter(pk=1).values_list("members_until", flat=True).first()
    oldest = Transfer.objects.order_by("created_at").values_list("created_at", flat=True).first()
    if mark is None or oldest is None:
        return []
    out: list[str] = []
    expected_points = set()
    for at, totals in running(floor_month(oldest), mark, {}):
        expected_points.add(stored_point(at, mark))
        stored = _stored(stored_point(at, mark))
        for account in sorted(set(stored) | set(totals)):
            want, have = totals.get(account, [0, 0]), stored.get(account, [0, 0])
            if want != have:
                out.append(f"member {account} before {at:%Y-%m-%d %H}:00: rollups {have} ledger {want}")
    extra = MemberRunningTotal.objects.exclude(at__in=expected_points).values_list("at", flat=True).distinct()
    out += [f"member running totals at {at:%Y-%m-%d %H}:00: not a point of the ledger" for at in extra]
    return out[:limit] + ([f"… {len(out) - limit} more"] if len(out) > limit else [])


def _difference(figure: str, low: datetime, high: datetime, mark: datetime) -> QuerySet[Any, dict[str, Any]]:
    """Per member account: its `figure` over [low, high), from the running totals (the points
    stored at or before `mark`)."""
    low, high = stored_point(low, mark), stored_point(high, mark)
    rows = MemberRunningTotal.objects.filter(at__in=(low, high)).values("account_id")
    return rows.annotate(
        d=Sum(Case(When(at=high, then=F(figure)), default=0)) - Sum(Case(When(at=low, then=F(figure)), default=0))
    )


@dataclass(frozen=True)
class Candidates:
    accounts: set[int]
    inner: tuple[datetime, datetime]  # the points the LOW figures were read between
    mark: datetime  # the running totals' mark they were read at


def candidates(figure: str, start: datetime, end: datetime) -> Candidates | None:
    """Every member account that can be in the top ten of `figure` over [start, end), or None
    when the running totals cannot tell (read the ledger for every member then)."""
    mark = EconomyRollupState.objects.filter(pk=1).values_list("members_until", flat=True).first()
    if mark is None or mark < timezone.now() - STALE or start >= mark:
        return None
    month = floor_month(mark)  # points: every month start ≤ month, and the mark
    inner_low = ceil_month(start) if ceil_month(start) <= month else mark
    inner_high = mark if end >= mark else floor_month(end)
    if (inner_high - inner_low) * 2 < end - start:
        return None
    lows = list(_difference(figure, inner_low, inner_high, mark).order_by("-d").values_list("d", flat=True)[:TOP])
    if len(lows) < TOP or lows[-1] <= 0:
        return None
    outer_low = floor_month(start)
    outer_high = mark if end >= mark or ceil_month(end) > month else ceil_month(end)
    outer = _difference(figure, outer_low, outer_high, mark)
    found = set(outer.filter(d__gte=lows[-1]).values_list("account_id", flat=True))
    if end > mark:  # the ledger after the mark can lift anyone: its members are candidates too
        side = FIGURES[figure][0]
        found |= set(ledger(figure, mark, end).values_list(side, flat=True).distinct())
    return Candidates(found, (inner_low, inner_high), mark) if len(found) <= MAX_CANDIDATES else None


def exact(figure: str, start: datetime, end: datetime, found: Candidates) -> dict[int, int]:
    """The candidates' exact `figure` over [start, end): the running totals' difference between
    the inner points plus the ledger's ends around them (a month or two, not the year)."""
    low, high = found.inner
    inner = _difference(figure, low, high, found.mark).filter(account_id__in=found.accounts)
    rows = inner.values_list("account_id", "d")
    out = {account: int(d) for account, d in rows}
    side = FIGURES[figure][0]
    for first, last in ((start, low), (high, end)):
        ends = ledger(figure, first, last).filter(**{f"{side}__in": found.accounts})
        for account, amount in ends.values(side).annotate(s=Sum("amount")).values_list(side, "s"):
            out[account] = out.get(account, 0) + int(amount)
    return out
