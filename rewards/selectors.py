"""Reads for rewards: leaderboards (Redis or SQL), the store, bounties, profile widgets."""

import logging
import time
import weakref
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from functools import cache
from typing import Any

from django.conf import settings
from django.db.models import Q, QuerySet
from django.utils import timezone

from accounts.models import User
from wallet.selectors import balance_for_user, default_currency

from .models import (
    ActivityEvent,
    Bounty,
    BountyStatus,
    EarningTotal,
    EventType,
    LeaderboardSync,
    Period,
    Redemption,
    RedemptionStatus,
    Reward,
    RewardProfile,
    UserBadge,
)
from .rank_cells import members_above

logger = logging.getLogger(__name__)


# --- periods and buckets --------------------------------------------------------------------


def bucket_for(period: str, at: datetime) -> str:
    """The bucket an instant falls in: "all", "2025-03" or "2025-W11" (ISO week), in UTC."""
    at = at.astimezone(UTC)
    if period == Period.ALL:
        return "all"
    if period == Period.MONTH:
        return f"{at.year:04d}-{at.month:02d}"
    if period == Period.WEEK:
        year, week, _ = at.isocalendar()
        return f"{year:04d}-W{week:02d}"
    raise ValueError(f"Unknown period {period!r}")


def buckets_for(at: datetime) -> list[tuple[str, str]]:
    return [(p, bucket_for(p, at)) for p in (Period.ALL, Period.MONTH, Period.WEEK)]


# --- Redis ----------------------------------------------------------------------------------


@cache
def _redis_client(url: str) -> Any:
    import redis

    # Timeouts from settings (GOLDBOOK_REDIS_*): on a failure callers fall back to SQL.
    return redis.Redis.from_url(url, **settings.REDIS_TIMEOUTS)


def redis_client() -> Any | None:
    """The Redis client for leaderboards, or None when leaderboards run on SQL aggregates."""
    backend = getattr(settings, "REWARDS_LEADERBOARD_BACKEND", "auto")
    if backend == "sql" or not settings.REDIS_URL:
        return None
    return _redis_client(settings.REDIS_URL)


# After a failed read, this process reads SQL for this long before it asks Redis again: a hung
# Redis then costs one read its timeout, not every page that shows a rank.
REDIS_READ_BACKOFF = 30.0
_read_failed_at: "weakref.WeakKeyDictionary[Any, float]" = weakref.WeakKeyDictionary()

# The one LeaderboardSync row.
SYNC_ROW = 1


def redis_writes_key() -> str:
    """A counter every Redis update bumps: a resync that sees it move raced an update. Outside
    the sets' `prefix:*` pattern, so a rebuild does not sweep it away."""
    return f"{settings.REWARDS_REDIS_PREFIX}~writes"


def leaderboards_stale() -> bool:
    """True while Redis missed an update and has not been resynced (read SQL meanwhile)."""
    return LeaderboardSync.objects.filter(pk=SYNC_ROW, stale_since__isnull=False).exists()


def _backing_off(client: Any) -> bool:
    failed = _read_failed_at.get(client)
    return failed is not None and time.monotonic() - failed < REDIS_READ_BACKOFF


def redis_key(period: str, bucket: str) -> str:
    return f"{settings.REWARDS_REDIS_PREFIX}:{period}:{bucket}"


# --- leaderboards ---------------------------------------------------------------------------


@dataclass(frozen=True)
class LeaderboardEntry:
    rank: int
    user_id: int
    display_name: str
    coins: int
    coins_decimal: Decimal
    badges: list[str]
    title: str


@dataclass(frozen=True)
class MyRank:
    rank: int | None
    coins: int
    coins_decimal: Decimal


@dataclass(frozen=True)
class Leaderboard:
    period: str
    bucket: str
    backend: str
    entries: list[LeaderboardEntry] = field(default_factory=list)
    me: MyRank | None = None


def _top_sql(period: str, bucket: str, limit: int) -> list[tuple[int, int]]:
    rows = (
        EarningTotal.objects.filter(period=period, bucket=bucket, coins__gt=0)
        .order_by("-coins", "user_id")
        .values_list("user_id", "coins")[:limit]
    )
    return list(rows)


def _me_sql(period: str, bucket: str, user_id: int) -> tuple[int | None, int]:
    coins = (
        EarningTotal.objects.filter(period=period, bucket=bucket, user_id=user_id)
        .values_list("coins", flat=True)
        .first()
    ) or 0
    if coins <= 0:
        return None, 0
    # Competition ranking (1, 2, 2, 4), as Redis: the members above, summed from the rank cells.
    return members_above(period=period, bucket=bucket, coins=coins) + 1, coins


def redis_member(user_id: int) -> str:
    """Zero-padded so that Redis's lexicographic order among equal scores is the numeric order."""
    return f"{user_id:012d}"


def _top_redis(client: Any, key: str, limit: int) -> list[tuple[int, int]]:
    rows = [(int(m), int(s)) for m, s in client.zrevrange(key, 0, limit - 1, withscores=True) if s > 0]
    if len(rows) < limit:
        return sorted(rows, key=lambda p: (-p[1], p[0]))
    # Equal scores come back in descending member order; SQL orders ties by ascending user id.
    # Keep everything above the boundary score, then take the boundary's lowest ids.
    boundary = rows[-1][1]
    above = sorted((p for p in rows if p[1] > boundary), key=lambda p: (-p[1], p[0]))
    tied = client.zrangebyscore(key, boundary, boundary, start=0, num=limit - len(above))
    return above + [(int(m), boundary) for m in tied]


def _me_redis(client: Any, key: str, user_id: int) -> tuple[int | None, int]:
    score = client.zscore(key, redis_member(user_id))
    if score is None or score <= 0:
        return None, 0
    above = client.zcount(key, f"({int(score)}", "+inf")
    return int(above) + 1, int(score)


def member_name(user: User) -> str:
    """What other members see on leaderboards, bounties and referral pages (User.public_name)."""
    return user.public_name


def _decorate(pairs: list[tuple[int, int]]) -> list[LeaderboardEntry]:
    currency = default_currency()
    ids = [uid for uid, _ in pairs]
    users = {u.pk: u for u in User.objects.filter(pk__in=ids).only("id", "display_name")}
    titles = dict(RewardProfile.objects.filter(user_id__in=ids).values_list("user_id", "title"))
    badges: dict[int, list[str]] = {}
    for uid, label in (
        UserBadge.objects.filter(user_id__in=ids).order_by("granted_at", "pk").values_list("user_id", "label")
    ):
        badges.setdefault(uid, []).append(label)
    entries = []
    rank = 0
    previous: int | None = None
    for position, (uid, coins) in enumerate(pairs, start=1):
        if coins != previous:
            rank, previous = position, coins
        user = users.get(uid)
        entries.append(
            LeaderboardEntry(
                rank=rank,
                user_id=uid,
                display_name=member_name(user) if user else f"Member #{uid}",
                coins=coins,
                coins_decimal=currency.to_decimal(coins),
                badges=badges.get(uid, []),
                title=titles.get(uid, "") or "",
            )
        )
    return entries


def leaderboard(
    *, period: str = Period.ALL, limit: int = 10, user_id: int | None = None, now: datetime | None = None
) -> Leaderboard:
    """Top earners for the period's current bucket, and the user's own rank (even outside the top).

    Reads Redis sorted sets when Redis is configured and in sync; falls back to the SQL
    aggregates when it is not, while it is stale (it missed an update: see
    `services.leaderboards`), or when Redis fails (the aggregates are written in the award's own
    transaction).
    """
    if period not in Period.values:
        raise ValueError(f"Unknown period {period!r}")
    limit = max(1, min(limit, 100))
    bucket = bucket_for(period, now or timezone.now())
    client = redis_client()
    if client is not None and (_backing_off(client) or leaderboards_stale()):
        client = None
    backend = "sql"
    pairs: list[tuple[int, int]]
    me: tuple[int | None, int] | None = None
    if client is not None:
        try:
            key = redis_key(period, bucket)
            pairs = _top_redis(client, key, limit)
            if user_id is not None:
                me = _me_redis(client, key, user_id)
            backend = "redis"
        except Exception:  # any Redis failure: serve from SQL rather than fail the page
            logger.warning(
                "Leaderboard %s:%s: Redis unavailable, reading SQL aggregates for %.0f s",
                period,
                bucket,
                REDIS_READ_BACKOFF,
                exc_info=True,
            )
            _read_failed_at[client] = time.monotonic()
            client = None
    if client is None:
        pairs = _top_sql(period, bucket, limit)
        if user_id is not None:
            me = _me_sql(period, bucket, user_id)
    currency = default_currency()
    my_rank = None
    if me is not None:
        my_rank = MyRank(rank=me[0], coins=me[1], coins_decimal=currency.to_decimal(me[1]))
    return Leaderboard(period=period, bucket=bucket, backend=backend, entries=_decorate(pairs), me=my_rank)


# --- store ----------------------------------------------------------------------------------


def rewards_live(*, now: datetime | None = None) -> QuerySet[Reward]:
    now = now or timezone.now()
    return (
        Reward.objects.filter(is_active=True)
        .filter(Q(starts_at__isnull=True) | Q(starts_at__lte=now))
        .filter(Q(ends_at__isnull=True) | Q(ends_at__gt=now))
        .order_by("sort_order", "price", "pk")
    )


@dataclass(frozen=True)
class StoreItem:
    reward: Reward
    price_decimal: Decimal
    affordable: bool
    in_stock: bool
    redeemed_by_me: int
    limit_reached: bool
    shortfall_decimal: Decimal

    @property
    def can_redeem(self) -> bool:
        return self.affordable and self.in_stock and not self.limit_reached


def store_items(*, user_id: int | None, now: datetime | None = None) -> list[StoreItem]:
    currency = default_currency()
    available = balance_for_user(user_id=user_id).available if user_id else 0
    mine: dict[int, int] = {}
    if user_id:
        for reward_id in (
            Redemption.objects.filter(user_id=user_id)
            .exclude(status=RedemptionStatus.CANCELLED)
            .values_list("reward_id", flat=True)
        ):
            mine[reward_id] = mine.get(reward_id, 0) + 1
    items = []
    for reward in rewards_live(now=now):
        count = mine.get(reward.pk, 0)
        items.append(
            StoreItem(
                reward=reward,
                price_decimal=currency.to_decimal(reward.price),
                affordable=bool(user_id) and available >= reward.price,
                in_stock=reward.stock is None or reward.stock > 0,
                redeemed_by_me=count,
                limit_reached=reward.per_user_limit is not None and count >= reward.per_user_limit,
                shortfall_decimal=currency.to_decimal(max(reward.price - available, 0)),
            )
        )
    return items


# --- profile widget ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ProfileWidget:
    balance: Decimal
    rank: int | None
    coins_earned: Decimal
    badges: list[str]
    title: str
    referral_code: str | None
    recent_redemptions: list[Redemption]


def profile_widget(*, user_id: int) -> ProfileWidget:
    board = leaderboard(period=Period.ALL, limit=1, user_id=user_id)
    profile = RewardProfile.objects.filter(user_id=user_id).first()
    me = board.me
    return ProfileWidget(
        balance=balance_for_user(user_id=user_id).available_decimal,
        rank=me.rank if me else None,
        coins_earned=me.coins_decimal if me else Decimal(0),
        badges=list(
            UserBadge.objects.filter(user_id=user_id).order_by("granted_at", "pk").values_list("label", flat=True)
        ),
        title=profile.title if profile else "",
        referral_code=profile.referral_code if profile else None,
        recent_redemptions=list(
            Redemption.objects.filter(user_id=user_id).select_related("reward").order_by("-created_at", "-pk")[:5]
        ),
    )


# --- bounties -------------------------------------------------------------------------------


def bounties_open(*, now: datetime | None = None) -> QuerySet[Bounty]:
    now = now or timezone.now()
    return (
        Bounty.objects.filter(status=BountyStatus.OPEN, grace_ends_at__gt=now)
        .select_related("offerer")
        .order_by("expires_at", "pk")
    )


def bounty_get(*, bounty_id: int) -> Bounty | None:
    return Bounty.objects.select_related("offerer", "winner").filter(pk=bounty_id).first()


def thread_answers(*, thread_ref: str) -> QuerySet[ActivityEvent]:
    """The answers posted on a bounty's thread by Goldbook members (the forum's answer.posted
    events whose member is known), newest first: what a bounty can be awarded to."""
    refs: list[object] = [thread_ref]
    if thread_ref.isdigit() and len(thread_ref) < 18:
        refs.append(int(thread_ref))  # forums send numeric thread ids as JSON numbers
    return (
        ActivityEvent.objects.filter(type=EventType.ANSWER_POSTED, user__isnull=False, user__is_active=True)
        .filter(Q(data__thread_ref__in=refs))
        .select_related("user")
        .order_by("-occurred_at", "-pk")
    )
