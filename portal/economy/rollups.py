"""Hourly rollups of the ledger figures the economy page sums over a period, so a chart reads a
few thousand rows instead of every transfer (bench/economy.py: 5,000,000 transfers).

Rollups hold closed UTC hours before `EconomyRollupState.complete_until`; a period is read from
them for its whole hours before that mark and live from the ledger for the rest (the open hour,
and the part hours at the ends of a period in a zone with a half-hour offset). Each figure has
one aggregate (`_flows`, `_rules`, `_unlocks`), used both to build the rollups and to read live,
so the two never disagree on what they count.

`refresh()` rebuilds from two hours before the mark up to the current hour (a transfer's time is
taken before its transaction commits, so a late commit lands in an hour already rolled up: the
overlap recounts it), and the members' running totals with them (members.py: top earners and
spenders). `reconcile()` compares both with the ledger over their whole range.
"""

from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db import transaction
from django.db.models import Count, Min, Q, QuerySet, Sum
from django.db.models.functions import TruncHour
from django.utils import timezone

from downloads.models import DownloadRecord, RecordSource
from rewards.models import Award
from wallet.models import Account, Transfer, TransferKind

from ..models import EconomyRollup, EconomyRollupState
from . import members

OVERLAP = timedelta(hours=2)
HOUR = timedelta(hours=1)
Sums = dict[tuple[str, str], list[int]]  # (metric, key) → [amount, count]
Row = tuple[Any, str, str, int, int]  # (hour or None, metric, key, amount, count)


def floor_hour(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def ceil_hour(moment: datetime) -> datetime:
    floor = floor_hour(moment)
    return floor if floor == moment else floor + HOUR


def _hourly(qs: QuerySet, field: str, by_hour: bool) -> QuerySet:
    return qs.annotate(h=TruncHour(field, tzinfo=UTC)).values("h") if by_hour else qs


def _flows(start: datetime, end: datetime, *, by_hour: bool = False) -> Iterator[Row]:
    """(hour or None, "into"/"out", kind, credits, transfers) for members' accounts."""
    system = list(Account.objects.filter(user__isnull=True).values_list("id", flat=True))
    into, out = ~Q(credit_account_id__in=system), ~Q(debit_account_id__in=system)
    qs = Transfer.objects.filter(kind__in=TransferKind.values, created_at__gte=start, created_at__lt=end)
    grouped = _hourly(qs, "created_at", by_hour).values(*(["h"] if by_hour else []), "kind")
    rows = grouped.annotate(
        i=Sum("amount", filter=into),
        ni=Count("id", filter=into),
        o=Sum("amount", filter=out),
        no=Count("id", filter=out),
    )
    for r in rows:
        if r["ni"]:
            yield r.get("h"), "into", r["kind"], int(r["i"]), int(r["ni"])
        if r["no"]:
            yield r.get("h"), "out", r["kind"], int(r["o"]), int(r["no"])


def _rules(start: datetime, end: datetime, *, by_hour: bool = False) -> Iterator[Row]:
    """(hour or None, "rule", rule id, coins, awards) for awards posted in the range."""
    qs = Award.objects.filter(
        transfer__kind=TransferKind.EARN, transfer__created_at__gte=start, transfer__created_at__lt=end
    )
    grouped = _hourly(qs, "transfer__created_at", by_hour).values(*(["h"] if by_hour else []), "rule_id")
    for r in grouped.annotate(s=Sum("transfer__amount"), n=Count("id")):
        yield r.get("h"), "rule", str(r["rule_id"]), int(r["s"]), int(r["n"])


def _unlocks(start: datetime, end: datetime, *, by_hour: bool = False) -> Iterator[Row]:
    """(hour or None, "unlock", "", credits, unlocks) spent on unlocking items in the range."""
    qs = DownloadRecord.objects.filter(
        source=RecordSource.UNLOCK,
        transfer__kind=TransferKind.DOWNLOAD,
        transfer__created_at__gte=start,
        transfer__created_at__lt=end,
    )
    if by_hour:
        rows = _hourly(qs, "transfer__created_at", True).annotate(s=Sum("transfer__amount"), n=Count("id"))
        for r in rows:
            yield r["h"], "unlock", "", int(r["s"]), int(r["n"])
        return
    agg = qs.aggregate(s=Sum("transfer__amount"), n=Count("id"))
    if agg["n"]:
        yield None, "unlock", "", int(agg["s"]), int(agg["n"])


def _live(start: datetime, end: datetime, sums: Sums) -> None:
    for source in (_flows, _rules, _unlocks):
        for _h, metric, key, amount, count in source(start, end):
            sums[(metric, key)][0] += amount
            sums[(metric, key)][1] += count


def _rolled(start: datetime, end: datetime, sums: Sums) -> None:
    rows = (
        EconomyRollup.objects.filter(hour__gte=start, hour__lt=end)
        .values("metric", "key")
        .annotate(a=Sum("amount"), n=Sum("count"))
    )
    for r in rows:
        sums[(r["metric"], r["key"])][0] += int(r["a"])
        sums[(r["metric"], r["key"])][1] += int(r["n"])


def complete_until() -> datetime | None:
    state = EconomyRollupState.objects.filter(pk=1).first()
    return state.complete_until if state else None


def sums(start: datetime, end: datetime) -> Sums:
    """Every ledger figure over [start, end): rollups where they are complete, live elsewhere."""
    out: Sums = defaultdict(lambda: [0, 0])
    mark = complete_until()
    first, last = ceil_hour(start), min(floor_hour(end), mark) if mark else None
    if last is None or first >= last:
        _live(start, end, out)
        return out
    if start < first:
        _live(start, first, out)
    _rolled(first, last, out)
    if last < end:
        _live(last, end, out)
    return out


@dataclass(frozen=True)
class Refreshed:
    start: datetime | None
    until: datetime
    rows: int


def refresh(*, now: datetime | None = None) -> Refreshed:
    """Rebuild the rollups of the hours since the mark (less OVERLAP) up to the current hour."""
    until = floor_hour(now or timezone.now())
    with transaction.atomic():
        state, _ = EconomyRollupState.objects.select_for_update(no_key=True).get_or_create(pk=1)
        if state.complete_until is not None:
            start: datetime | None = state.complete_until - OVERLAP
        else:
            oldest = Transfer.objects.aggregate(m=Min("created_at"))["m"]
            start = floor_hour(oldest) if oldest else None
        rows: list[EconomyRollup] = []
        if start is not None and start < until:
            EconomyRollup.objects.filter(hour__gte=start, hour__lt=until).delete()
            for source in (_flows, _rules, _unlocks):
                for hour, metric, key, amount, count in source(start, until, by_hour=True):
                    rows.append(EconomyRollup(hour=hour, metric=metric, key=key, amount=amount, count=count))
            EconomyRollup.objects.bulk_create(rows, batch_size=5000)
        written = members.rebuild(state, until)
        state.complete_until, state.refreshed_at = until, timezone.now()
        state.save(update_fields=["complete_until", "refreshed_at", "members_until"])
    return Refreshed(start, until, len(rows) + written)


def reconcile() -> list[str]:
    """Differences between the rollups and the ledger over every rolled-up hour (none: they
    agree), also kept on the state row for the page. Reads the whole ledger once: for the beat
    task and the command, not for a page."""
    differences = _differences() + members.differences()
    EconomyRollupState.objects.update_or_create(
        pk=1, defaults={"reconciled_at": timezone.now(), "differences": differences}
    )
    return differences


def _differences() -> list[str]:
    mark = complete_until()
    if mark is None:
        return []
    rolled: Sums = defaultdict(lambda: [0, 0])
    ledger: Sums = defaultdict(lambda: [0, 0])
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    _rolled(epoch, mark, rolled)
    _live(epoch, mark, ledger)
    return [
        f"{metric} {key}: rollups {rolled[(metric, key)]} ledger {ledger[(metric, key)]}"
        for metric, key in sorted(set(rolled) | set(ledger))
        if rolled[(metric, key)] != ledger[(metric, key)]
    ]
