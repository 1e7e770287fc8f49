"""Leaderboard writes: the earned totals kept beside each award (SQL, mirrored into Redis after
commit), the resync of Redis after an outage and the full rebuild from the ledger. Reads are
`rewards.selectors.leaderboard`.

Redis is a mirror that can miss updates (down, hung past its timeout, the process gone before
its after-commit callback). A missed update marks the mirror stale in PostgreSQL
(`LeaderboardSync`); reads then use the SQL aggregates, and `leaderboards_resync` (the
`rewards.resync_leaderboards` task, every minute) rewrites the sorted sets from them before
Redis is trusted again.
"""

import logging
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.db import connection, transaction
from django.db.models import F, Q
from django.db.models.functions import Coalesce
from django.utils import timezone

from wallet.models import Transfer, TransferKind

from ..models import Award, Bounty, EarningTotal, LeaderboardSync, Period, RewardDebt
from ..rank_cells import cell_deltas, cells_apply, cells_rebuild
from ..selectors import SYNC_ROW, buckets_for, redis_client, redis_key, redis_member, redis_writes_key

logger = logging.getLogger(__name__)

_UPSERT = (
    "INSERT INTO rewards_earningtotal (period, bucket, user_id, coins) VALUES {values} "
    "ON CONFLICT (period, bucket, user_id) DO UPDATE SET coins = rewards_earningtotal.coins + excluded.coins "
    "RETURNING period, bucket, user_id, coins"
)

TotalKey = tuple[str, str, int]  # period, bucket, user id


def totals_add(*, user_id: int, at: datetime, delta: int) -> None:
    """Add `delta` to the user's earned totals for the buckets `at` falls in (`totals_add_many`)."""
    totals_add_many([(user_id, at, delta)])


def totals_add_many(changes: Iterable[tuple[int, datetime, int]]) -> None:
    """Add each (user id, at, delta) to the user's earned totals for the buckets `at` falls in,
    and move the members between the rank cells (`rewards.rank_cells`), in the caller's
    transaction and in one statement (summed per total, in key order: two runs lock shared rows
    in one order); mirror it into the Redis sorted sets once the transaction commits."""
    summed: dict[TotalKey, int] = defaultdict(int)
    for user_id, at, delta in changes:
        for period, bucket in buckets_for(at):
            summed[(period, bucket, user_id)] += delta
    keys = sorted(key for key, delta in summed.items() if delta)
    if not keys:
        return
    with connection.cursor() as cursor:
        cursor.execute(
            _UPSERT.format(values=", ".join(["(%s, %s, %s, %s)"] * len(keys))),
            [v for key in keys for v in (*key, summed[key])],
        )
        totals = cursor.fetchall()
    cells_apply(
        [
            (period, bucket, level, cell, n)
            for period, bucket, user_id, coins in totals
            for (level, cell), n in cell_deltas(coins - summed[(period, bucket, user_id)], coins).items()
        ]
    )
    if redis_client() is not None:
        deltas = [(key, summed[key]) for key in keys]
        transaction.on_commit(lambda: _redis_incr(deltas))


def _redis_incr(deltas: list[tuple[TotalKey, int]]) -> None:
    client = redis_client()
    if client is None:
        return
    if _count_miss_if_stale():
        return  # Redis waits for its resync, which will include these awards (they are in SQL)
    try:
        pipe = client.pipeline(transaction=True)
        boards: set[tuple[str, str]] = set()
        for (period, bucket, user_id), delta in deltas:
            pipe.zincrby(redis_key(period, bucket), delta, redis_member(user_id))
            boards.add((period, bucket))
        for period, bucket in sorted(boards):
            key = redis_key(period, bucket)
            # A total of exactly 0 is as good as absent. A negative one (a reversal or claw-back
            # larger than the period's awards) stays, as in SQL: the next award starts from it.
            pipe.zremrangebyscore(key, 0, 0)
            if period != Period.ALL:
                pipe.expire(key, 60 * 60 * 24 * 400)
        pipe.incr(redis_writes_key())  # lets a concurrent resync see it raced with this update
        pipe.execute()
    except Exception:  # Redis down or hung (GOLDBOOK_REDIS_TIMEOUT): fallback, mark it stale
        users = sorted({user_id for (_, _, user_id), _ in deltas})
        logger.warning("Leaderboard: Redis update for user(s) #%s failed; reading SQL until resynced", users[:10])
        _mark_stale()


def _sync_rows() -> Any:
    LeaderboardSync.objects.get_or_create(pk=SYNC_ROW)
    return LeaderboardSync.objects.filter(pk=SYNC_ROW)


def _mark_stale() -> None:
    _sync_rows().update(stale_since=Coalesce(F("stale_since"), timezone.now()), misses=F("misses") + 1)


def _count_miss_if_stale() -> bool:
    """While stale, an update skips Redis but counts as a miss (one UPDATE, no read-then-write
    race with a resync clearing the flag). False when Redis is trusted."""
    return LeaderboardSync.objects.filter(pk=SYNC_ROW, stale_since__isnull=False).update(misses=F("misses") + 1) > 0


def leaderboards_resync(*, attempts: int = 3) -> bool:
    """Rewrite the Redis sorted sets from the SQL aggregates and trust Redis again. True when
    Redis is in sync (or not used); False when it still cannot be trusted (the task tries again).

    Steps: note the miss count; copy the aggregates into Redis (atomic swap per set); check that
    no update reached Redis meanwhile (its write counter), else copy again; clear the stale flag
    only if no update was missed meanwhile. Never raises for a Redis failure.
    """
    client = redis_client()
    return client is None or _resync(client, attempts=attempts) is not None


def _resync(client: Any, *, attempts: int = 3) -> int | None:
    """`leaderboards_resync` with a client: how many sets were written, None when not in sync."""
    state = _sync_rows().values_list("stale_since", "misses").get()
    keys = 0
    try:
        for _ in range(attempts):
            before = client.get(redis_writes_key())
            rows = list(EarningTotal.objects.filter(coins__gt=0).values_list("period", "bucket", "user_id", "coins"))
            keys = _redis_replace(client, rows)
            if client.get(redis_writes_key()) == before:
                break
        else:
            logger.info("Leaderboards: updates kept racing the resync; trying again later")
            return None
    except Exception:  # Redis still out: stays stale, reads stay on SQL
        logger.warning("Leaderboards: Redis resync failed; reading SQL until it succeeds")
        return None
    if state[0] is not None:
        cleared = _sync_rows().filter(misses=state[1]).update(stale_since=None)
        if not cleared:
            logger.info("Leaderboards: an update was missed during the resync; trying again later")
            return None
        logger.info("Leaderboards: Redis resynced (%s sets) after being stale since %s", keys, state[0])
    return keys


@dataclass(frozen=True)
class RebuildResult:
    rows: int
    users: int
    redis_keys: int


def leaderboards_rebuild(*, progress: Callable[[str], None] | None = None) -> RebuildResult:
    """Recompute every earned total from the ledger and replace both the SQL aggregates and the
    Redis sorted sets.

    Earned = `earn` transfers caused by an Award, minus `reversal` transfers caused by an Award,
    minus debts (the uncovered part of a reversal), plus bounty payouts. Award adjustments are
    bucketed at the award's time (a reversal takes the coins out of the week they were earned);
    debt recoveries are not counted again (the debt already was).
    """
    totals = _earned_from_ledger(progress)
    rows = [EarningTotal(period=p, bucket=b, user_id=u, coins=c) for (p, b, u), c in totals.items() if c != 0]
    with transaction.atomic():
        EarningTotal.objects.all().delete()
        EarningTotal.objects.bulk_create(rows, batch_size=5000)
        cells_rebuild()
    client = redis_client()
    keys = 0
    if client is not None:
        _mark_stale()  # read SQL until Redis holds the new aggregates (and if it cannot now)
        keys = _resync(client) or 0
    logger.info("Leaderboards rebuilt: %s rows, %s Redis keys", len(rows), keys)
    return RebuildResult(rows=len(rows), users=len({u for (_, _, u) in totals}), redis_keys=keys)


def _earned_from_ledger(progress: Callable[[str], None] | None) -> dict[tuple[str, str, int], int]:
    """(period, bucket, user id) -> coins earned, read from the ledger in chunks."""
    award_ct = ContentType.objects.get_for_model(Award)
    bounty_ct = ContentType.objects.get_for_model(Bounty)
    award_times = dict(Award.objects.values_list("pk", "created_at").iterator(chunk_size=20000))
    award_users = dict(Award.objects.values_list("pk", "user_id").iterator(chunk_size=20000))
    totals: dict[tuple[str, str, int], int] = defaultdict(int)

    def add(user_id: int, at: datetime, amount: int) -> None:
        for period, bucket in buckets_for(at):
            totals[(period, bucket, user_id)] += amount

    transfers = Transfer.objects.filter(
        Q(cause_type=award_ct, kind__in=[TransferKind.EARN, TransferKind.REVERSAL])
        | Q(cause_type=bounty_ct, kind=TransferKind.BOUNTY)
    ).values_list("cause_type_id", "cause_id", "kind", "amount", "created_at", "credit_account__user_id")
    seen = 0
    for ct_id, cause_id, kind, amount, created_at, credit_user in transfers.iterator(chunk_size=20000):
        seen += 1
        if ct_id == award_ct.pk:
            award_id = int(cause_id)
            if award_id not in award_times:
                continue
            sign = 1 if kind == TransferKind.EARN else -1
            add(award_users[award_id], award_times[award_id], sign * amount)
        elif credit_user is not None:
            add(credit_user, created_at, amount)
        if progress and seen % 100000 == 0:
            progress(f"{seen} transfers read")
    for award_id, amount in RewardDebt.objects.values_list("award_id", "amount").iterator(chunk_size=20000):
        add(award_users[award_id], award_times[award_id], -amount)
    return totals


def _redis_replace(client: Any, rows: list[tuple[str, str, int, int]]) -> int:
    """Replace every leaderboard sorted set with the rows (period, bucket, user id, coins); drop
    sets no row fills any more. Returns how many sets were written."""
    by_key: dict[str, dict[str, int]] = defaultdict(dict)
    for period, bucket, user_id, coins in rows:
        if coins != 0:  # negatives too (see _redis_incr); readers show only positive totals
            by_key[redis_key(period, bucket)][redis_member(user_id)] = coins
    prefix = settings.REWARDS_REDIS_PREFIX
    stale = set(k.decode() if isinstance(k, bytes) else k for k in client.scan_iter(match=f"{prefix}:*", count=1000))
    for key, members in by_key.items():
        tmp = f"{key}:rebuild:{uuid.uuid4().hex}"
        items = list(members.items())
        for start in range(0, len(items), 10000):
            client.zadd(tmp, dict(items[start : start + 10000]))
        client.rename(tmp, key)  # atomic swap: readers see the old or the new set, never half
        stale.discard(key)
    for key in stale:
        if ":rebuild:" not in key:
            client.delete(key)
    return len(by_key)
