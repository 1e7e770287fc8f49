"""Reads for downloads: the catalog, access rules, jobs, history and the free tier."""

import hashlib
import hmac
from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings
from django.db.models import Exists, OuterRef, Q, QuerySet, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone

from accounts.models import User
from wallet.selectors import balance_for_user

from .models import (
    AdCompletion,
    DownloadJob,
    DownloadRecord,
    FreeAllowance,
    Item,
    ItemKind,
    Unlock,
    Verification,
    song_price_minor,
)


def listed_items() -> QuerySet[Item]:
    """Active items the public may see; EAs only once staff verified them."""
    return Item.objects.filter(is_active=True).filter(~Q(kind=ItemKind.EA) | Q(verification=Verification.VERIFIED))


def accessible_q(user: User | None) -> Q:
    """Items open to everyone, plus group-restricted items whose group the user belongs to."""
    if user is None or not user.is_authenticated:
        return Q(access_group__isnull=True)
    if user.is_staff:
        return Q()
    return Q(access_group__isnull=True) | Q(access_group__in=user.groups.all())


def can_access(*, user: User, item: Item) -> bool:
    if item.access_group_id is None or user.is_staff:
        return True
    return user.groups.filter(pk=item.access_group_id).exists()


def catalog(*, user: User | None, query: str = "", kind: ItemKind | None = None) -> QuerySet[Item]:
    """The catalog page: search by title/symbol, filter by kind, `is_unlocked` per item."""
    qs = listed_items().select_related("access_group")
    if kind is not None:
        qs = qs.filter(kind=kind)
    query = query.strip()[:100]
    if query:
        qs = qs.filter(Q(title__icontains=query) | Q(symbol__iexact=query) | Q(description__icontains=query))
    if user is not None and user.is_authenticated:
        qs = qs.annotate(is_unlocked=Exists(Unlock.objects.filter(user_id=user.pk, item_id=OuterRef("pk"))))
    return qs.order_by("-created_at", "-id")


def new_songs_for(*, user: User, limit: int) -> list[Item]:
    """The `limit` newest listed songs the user may access and has never downloaded."""
    downloaded = DownloadRecord.objects.filter(user_id=user.pk, item_id=OuterRef("pk"))
    return list(
        listed_items()
        .filter(kind=ItemKind.SONG)
        .filter(accessible_q(user))
        .exclude(Exists(downloaded))
        .order_by("-created_at", "-id")[:limit]
    )


def total_songs_downloaded(*, user_id: int) -> int:
    """Songs delivered to the user, free downloads included (one download record per delivery)."""
    return DownloadRecord.objects.filter(user_id=user_id, item__kind=ItemKind.SONG).count()


def songs_downloaded_sql(*, user_id_column: str) -> str:
    """`total_songs_downloaded` as a correlated scalar subquery over `user_id_column`, for a
    reader that folds the count into its own statement (accounts' balance endpoint)."""
    record, item = DownloadRecord._meta.db_table, Item._meta.db_table
    return (
        f"(SELECT COUNT(*) FROM {record} dr JOIN {item} di ON di.id = dr.item_id"  # noqa: S608 (constants)
        f" WHERE dr.user_id = {user_id_column} AND di.kind = '{ItemKind.SONG.value}')"
    )


def job_for_owner(*, public_id: str, user_id: int) -> DownloadJob | None:
    if not public_id.startswith("job_") or len(public_id) > 40:
        return None
    return DownloadJob.objects.filter(public_id=public_id, user_id=user_id).first()


def history(*, user_id: int, limit: int = 20) -> list[DownloadRecord]:
    return list(
        DownloadRecord.objects.filter(user_id=user_id)
        .select_related("item", "job")
        .order_by("-created_at", "-id")[:limit]
    )


def unlock_ids(*, user_id: int, item_ids: list[int]) -> dict[int, int]:
    """item id → the user's unlock id, for the items the user has unlocked."""
    return dict(Unlock.objects.filter(user_id=user_id, item_id__in=item_ids).values_list("item_id", "pk"))


def recent_jobs(*, user_id: int, limit: int = 5) -> list[DownloadJob]:
    return list(DownloadJob.objects.filter(user_id=user_id).order_by("-created_at", "-id")[:limit])


def upload_bytes_used(*, user_id: int) -> int:
    """Bytes of the files a member uploaded, counted against their upload quota."""
    return int(Item.objects.filter(uploader_id=user_id).aggregate(total=Coalesce(Sum("size"), 0))["total"])


def free_downloads_remaining(*, user_id: int) -> int:
    allowance = FreeAllowance.objects.filter(user_id=user_id).only("remaining").first()
    return settings.DOWNLOADS_FREE_PER_ACCOUNT if allowance is None else allowance.remaining


def ad_grants_today(*, user_id: int) -> int:
    start = timezone.now().replace(hour=0, minute=0, second=0, microsecond=0)
    return AdCompletion.objects.filter(user_id=user_id, created_at__gte=start).count()


def ad_user_ref(*, user_id: int) -> str:
    """The opaque reference we hand the ad network for a user; its tokens must carry it back."""
    key = hashlib.sha256(f"downloads.ad_user_ref:{settings.SECRET_KEY}".encode()).digest()
    return hmac.new(key, str(user_id).encode(), hashlib.sha256).hexdigest()[:32]


@dataclass(frozen=True)
class FreeTier:
    remaining: int
    ads_today: int
    ads_per_day: int
    ads_enabled: bool

    @property
    def can_watch_ad(self) -> bool:
        return self.ads_enabled and self.ads_today < self.ads_per_day


def free_tier(*, user_id: int) -> FreeTier:
    return FreeTier(
        remaining=free_downloads_remaining(user_id=user_id),
        ads_today=ad_grants_today(user_id=user_id),
        ads_per_day=settings.DOWNLOADS_AD_GRANTS_PER_DAY,
        ads_enabled=bool(settings.ADS_HMAC_SECRET),
    )


@dataclass(frozen=True)
class SpendQuote:
    """What a download will cost the member, before it is confirmed: "spend X, balance after Y",
    with the shortfall when the spendable balance is short (all in the site currency)."""

    cost: Decimal
    available: Decimal
    free_songs: int = 0

    @property
    def after(self) -> Decimal:
        return self.available - self.cost

    @property
    def shortfall(self) -> Decimal:
        return max(self.cost - self.available, Decimal(0))

    @property
    def affordable(self) -> bool:
        return self.cost <= self.available


def item_quote(*, user: User, item: Item) -> SpendQuote:
    """An item's price for this member: nothing for a free item or one they already unlocked."""
    owned = item.is_unlock and Unlock.objects.filter(user_id=user.pk, item_id=item.pk).exists()
    balance = balance_for_user(user_id=user.pk)
    cost = 0 if owned else item.price
    return SpendQuote(cost=balance.currency.to_decimal(cost), available=balance.available_decimal)


def job_quote(*, user: User, songs: int, use_free_downloads: bool) -> SpendQuote:
    """The most a job of `songs` songs holds now (the free downloads it would use first are
    free); it charges only the songs delivered."""
    free = min(free_downloads_remaining(user_id=user.pk), songs) if use_free_downloads else 0
    balance = balance_for_user(user_id=user.pk)
    cost = (songs - free) * song_price_minor()
    return SpendQuote(cost=balance.currency.to_decimal(cost), available=balance.available_decimal, free_songs=free)
