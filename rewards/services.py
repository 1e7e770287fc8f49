"""Writes for rewards: activity intake, awards and reversals, redemptions, bounties, referrals.

Balances move only through `wallet.services`. Lock order (the house order, domain rows first):
the user's `RewardProfile` (or the bounty / redemption row), then the reward row (stock), then
wallet accounts (inside wallet.services). The profile lock serialises everything one user earns
or redeems, which is what keeps the daily cap, per-cycle limits and per-user limits exact under
concurrency.

Transactions: the user-facing money operations (redeem, bounties, staff decisions) open
`atomic(durable=True)`. `activity_record`, `pending_events_apply` and the referral hooks open a
plain (nestable) `atomic()` on purpose: other apps call them from inside their own transactions
(EA verification, a payment's confirmation, sign-up), and an award that commits with the act
that earned it is what we want there.
"""

import hashlib
import logging
import secrets
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import ROUND_DOWN, Decimal
from typing import Any

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.db import IntegrityError, connection, transaction
from django.db.models import F, Max, Q, Sum
from django.utils import timezone
from django.utils.module_loading import import_string

from accounts.models import ApiSession, User
from wallet import services as wallet
from wallet.errors import IdempotencyConflict, InsufficientFunds
from wallet.models import SystemAccount, Transfer, TransferKind
from wallet.selectors import default_currency

from .errors import (
    BountyClosed,
    BountyHasAnswers,
    BountyNotFound,
    InvalidBounty,
    InvalidEvent,
    LimitReached,
    NotOfferer,
    OutOfStock,
    RedemptionNotPending,
    ReferralRefused,
    RewardUnavailable,
    WinnerNotFound,
)
from .models import (
    ActivityEvent,
    Award,
    AwardStatus,
    Booster,
    Bounty,
    BountyStatus,
    Cycle,
    DebtRecovery,
    DeletedObject,
    EarningRule,
    EarningTotal,
    EventStatus,
    EventType,
    GroupGrant,
    Integration,
    MemberLink,
    ObjectVote,
    Redemption,
    RedemptionStatus,
    Referral,
    ReferralStatus,
    Reward,
    RewardDebt,
    RewardKind,
    RewardProfile,
    UserBadge,
)
from .selectors import buckets_for, redis_client, redis_key, redis_member

logger = logging.getLogger(__name__)

GOLDBOOK_SOURCE = "goldbook"
MAX_KEY = 200


def _key(*parts: object) -> str:
    """An idempotency key from its parts; long forum ids are hashed to stay within 200 chars."""
    raw = ":".join(str(p) for p in parts)
    if len(raw) <= MAX_KEY:
        return raw
    return f"{raw[:120]}:{hashlib.sha256(raw.encode()).hexdigest()}"


def daily_cap_minor() -> int:
    return default_currency().to_minor(Decimal(str(settings.REWARDS_DAILY_CAP)))


# --- profiles -------------------------------------------------------------------------------


def _new_referral_code() -> str:
    return secrets.token_urlsafe(6).replace("-", "x").replace("_", "y")[:8]


def profile_ensure(*, user_id: int) -> RewardProfile:
    """The user's rewards profile, created on first use (safe under concurrency)."""
    profile = RewardProfile.objects.filter(user_id=user_id).first()
    if profile is not None:
        return profile
    for _ in range(5):
        try:
            with transaction.atomic():
                return RewardProfile.objects.create(user_id=user_id, referral_code=_new_referral_code())
        except IntegrityError:
            profile = RewardProfile.objects.filter(user_id=user_id).first()
            if profile is not None:
                return profile
    raise RuntimeError(f"Could not create a rewards profile for user #{user_id}.")


def _lock_profile(user_id: int) -> RewardProfile:
    """Lock the user's profile row: the per-user serialisation point of rewards."""
    profile_ensure(user_id=user_id)
    return RewardProfile.objects.select_for_update(no_key=True).get(user_id=user_id)


# --- leaderboard aggregates -------------------------------------------------------------------

_UPSERT = (
    "INSERT INTO rewards_earningtotal (period, bucket, user_id, coins) VALUES (%s, %s, %s, %s) "
    "ON CONFLICT (period, bucket, user_id) DO UPDATE SET coins = rewards_earningtotal.coins + excluded.coins"
)


def _totals_add(*, user_id: int, at: datetime, delta: int) -> None:
    """Add `delta` to the user's earned totals for the buckets `at` falls in (same transaction),
    and mirror it into the Redis sorted sets once the transaction commits."""
    if delta == 0:
        return
    buckets = buckets_for(at)
    with connection.cursor() as cursor:
        cursor.executemany(_UPSERT, [(p, b, user_id, delta) for p, b in buckets])
    if redis_client() is not None:
        transaction.on_commit(lambda: _redis_incr(user_id=user_id, buckets=buckets, delta=delta))


def _redis_incr(*, user_id: int, buckets: list[tuple[str, str]], delta: int) -> None:
    client = redis_client()
    if client is None:
        return
    try:
        pipe = client.pipeline(transaction=True)
        for period, bucket in buckets:
            key = redis_key(period, bucket)
            pipe.zincrby(key, delta, redis_member(user_id))
            pipe.zremrangebyscore(key, "-inf", 0)
            if period != "all":
                pipe.expire(key, 60 * 60 * 24 * 400)
        pipe.execute()
    except Exception:  # Redis down: the SQL aggregates are right; rebuild_leaderboards re-syncs
        logger.warning("Leaderboard: Redis update for user #%s failed", user_id, exc_info=True)


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

    rows = [EarningTotal(period=p, bucket=b, user_id=u, coins=c) for (p, b, u), c in totals.items() if c != 0]
    with transaction.atomic():
        EarningTotal.objects.all().delete()
        EarningTotal.objects.bulk_create(rows, batch_size=5000)
    keys = 0
    client = redis_client()
    if client is not None:
        by_key: dict[str, dict[str, int]] = defaultdict(dict)
        for row in rows:
            if row.coins > 0:
                by_key[redis_key(row.period, row.bucket)][redis_member(row.user_id)] = row.coins
        prefix = settings.REWARDS_REDIS_PREFIX
        stale = set(
            k.decode() if isinstance(k, bytes) else k for k in client.scan_iter(match=f"{prefix}:*", count=1000)
        )
        for key, members in by_key.items():
            tmp = f"{key}:rebuild:{uuid.uuid4().hex}"
            items = list(members.items())
            for start in range(0, len(items), 10000):
                client.zadd(tmp, dict(items[start : start + 10000]))
            client.rename(tmp, key)  # atomic swap: readers see the old or the new set, never half
            stale.discard(key)
            keys += 1
        for key in stale:
            if ":rebuild:" not in key:
                client.delete(key)
    logger.info("Leaderboards rebuilt: %s rows, %s Redis keys", len(rows), keys)
    return RebuildResult(rows=len(rows), users=len({u for (_, _, u) in totals}), redis_keys=keys)


# --- activity intake ------------------------------------------------------------------------


@dataclass(frozen=True)
class RecordResult:
    event: ActivityEvent
    created: bool  # False: a replay of an event already stored; nothing changed


def _clean_identity(value: Any) -> dict[str, str]:
    if not isinstance(value, dict):
        return {}
    out = {}
    email = value.get("email")
    if isinstance(email, str) and email.strip():
        out["email"] = email.strip().lower()[:254]
    ext = value.get("external_id")
    if isinstance(ext, int | str) and not isinstance(ext, bool) and str(ext).strip():
        out["external_id"] = str(ext).strip()[:128]
    return out


def _validate(*, event_type: str, event_id: str, object_type: str, object_id: str, data: dict[str, Any]) -> None:
    if event_type not in EventType.values:
        raise InvalidEvent(f"Unknown event type {event_type!r}.")
    if not event_id or len(event_id) > 128:
        raise InvalidEvent("event_id must be 1 to 128 characters.")
    if not object_type or len(object_type) > 32 or not object_id or len(object_id) > 128:
        raise InvalidEvent("object.type (≤32) and object.id (≤128) are required.")
    if event_type in (EventType.POST_UPVOTED, EventType.POST_UNVOTED) and not _clean_identity(data.get("voter")):
        raise InvalidEvent(f"{event_type} needs data.voter with an email or external_id.")


def activity_record(
    *,
    source: str,
    event_id: str,
    type: str,  # noqa: A002 - the field's name in the event contract
    object_type: str,
    object_id: str,
    occurred_at: datetime | None = None,
    user_email: str = "",
    user_external_id: str = "",
    user_id: int | None = None,
    data: dict[str, Any] | None = None,
) -> RecordResult:
    """Store one activity event and apply it if its user is known.

    Steps: validate; insert the event (unique per source and event_id: a replay returns the
    stored event with `created=False` and changes nothing); resolve the user by id, email, or the
    integration's external id (learning the external id when the event carries both); apply this
    user's pending events, oldest first, this one included. Events for unknown users stay
    pending until `pending_events_apply` finds their user.

    Raises InvalidEvent. Never raises for a failure while applying: the event is stored as
    `failed` with a note for staff to look at.
    """
    data = dict(data or {})
    object_id = str(object_id)
    _validate(event_type=type, event_id=event_id, object_type=object_type, object_id=object_id, data=data)
    occurred_at = occurred_at or timezone.now()
    if timezone.is_naive(occurred_at):
        occurred_at = occurred_at.replace(tzinfo=UTC)
    email = (user_email or "").strip().lower()[:254]
    external = (str(user_external_id) if user_external_id else "").strip()[:128]
    if not (email or external or user_id):
        raise InvalidEvent("user needs an email or an external_id.")
    with transaction.atomic():
        try:
            with transaction.atomic():
                event = ActivityEvent.objects.create(
                    source=source,
                    event_id=event_id,
                    type=type,
                    occurred_at=occurred_at,
                    user_email=email,
                    user_external_id=external,
                    object_type=object_type,
                    object_id=object_id,
                    data=data,
                )
        except IntegrityError:
            existing = ActivityEvent.objects.filter(source=source, event_id=event_id).first()
            if existing is None:
                raise
            return RecordResult(event=existing, created=False)
        if type == EventType.ANSWER_POSTED:
            _count_bounty_answer(data)
        user = _resolve_user(source=source, email=email, external_id=external, user_id=user_id)
        if user is not None:
            ActivityEvent.objects.filter(pk=event.pk).update(user=user)
            _apply_pending_for(user)
            event.refresh_from_db()
    return RecordResult(event=event, created=True)


def _count_bounty_answer(data: dict[str, Any]) -> None:
    """An answer on a thread with open bounties: they can no longer be cancelled. Counted when
    the event arrives, whether or not the answerer has a Goldbook account yet."""
    thread_ref = data.get("thread_ref")
    if isinstance(thread_ref, str | int) and not isinstance(thread_ref, bool) and str(thread_ref):
        Bounty.objects.filter(thread_ref=str(thread_ref)[:200], status=BountyStatus.OPEN).update(
            answer_count=F("answer_count") + 1
        )


def _resolve_user(*, source: str, email: str, external_id: str, user_id: int | None) -> User | None:
    if user_id is not None:
        return User.objects.filter(pk=user_id).first()
    user = User.objects.filter(email__iexact=email).first() if email else None
    if external_id:
        integration = Integration.objects.filter(name=source).first()
        if integration is not None:
            link = (
                MemberLink.objects.filter(integration=integration, external_id=external_id)
                .select_related("user")
                .first()
            )
            if link is not None and user is None:
                user = link.user
            elif link is None and user is not None:
                try:
                    with transaction.atomic():
                        MemberLink.objects.create(integration=integration, external_id=external_id, user=user)
                except IntegrityError:
                    pass  # linked concurrently by another event: first link wins
    return user


def _pending_for_user(user: User) -> "Q":
    cond = Q(user_email=user.email.lower()) | Q(user=user)
    for source, external_id in MemberLink.objects.filter(user=user).values_list("integration__name", "external_id"):
        cond |= Q(source=source, user_external_id=external_id)
    return cond


def _apply_pending_for(user: User) -> int:
    ids = list(
        ActivityEvent.objects.filter(status=EventStatus.PENDING)
        .filter(_pending_for_user(user))
        .order_by("occurred_at", "pk")
        .values_list("pk", flat=True)
    )
    for event_id in ids:
        _apply_one(event_id=event_id, user=user)
    return len(ids)


def pending_events_apply(*, user_id: int) -> int:
    """Apply the stored events that belong to this user (by email or a known external id).

    Call it when a user registers (after the sign-up transaction commits, or from the
    `rewards.apply_pending_events_for_user` task). Returns how many events were applied.
    """
    user = User.objects.filter(pk=user_id).first()
    if user is None:
        return 0
    with transaction.atomic():
        return _apply_pending_for(user)


def pending_events_sweep(*, limit: int = 1000) -> int:
    """Periodic safety net: apply pending events whose email or external id now has a user."""
    emails = set(
        ActivityEvent.objects.filter(status=EventStatus.PENDING)
        .exclude(user_email="")
        .values_list("user_email", flat=True)
        .distinct()[:limit]
    )
    user_ids = set(User.objects.filter(email__in=emails).values_list("pk", flat=True))
    for source, external_id in (
        ActivityEvent.objects.filter(status=EventStatus.PENDING)
        .exclude(user_external_id="")
        .values_list("source", "user_external_id")
        .distinct()[:limit]
    ):
        link = MemberLink.objects.filter(integration__name=source, external_id=external_id).first()
        if link is not None:
            user_ids.add(link.user_id)
    applied = 0
    for user_id in sorted(user_ids):
        applied += pending_events_apply(user_id=user_id)
    return applied


def _apply_one(*, event_id: int, user: User) -> None:
    """Apply one pending event in a savepoint; on an unexpected error keep it as failed."""
    try:
        with transaction.atomic():
            profile = _lock_profile(user.pk)
            event = ActivityEvent.objects.select_for_update(no_key=True).get(pk=event_id)
            if event.status != EventStatus.PENDING:
                return
            notes = _apply_event(event=event, user=user, profile=profile)
            event.user = user
            event.status = EventStatus.APPLIED
            event.applied_at = timezone.now()
            event.note = "; ".join(notes)[:255]
            event.save(update_fields=["user", "status", "applied_at", "note"])
    except Exception as exc:  # stored as failed, never lost: staff can re-apply from the admin
        logger.exception("Event #%s: applying failed", event_id)
        ActivityEvent.objects.filter(pk=event_id, status=EventStatus.PENDING).update(
            user=user, status=EventStatus.FAILED, note=f"{type(exc).__name__}: {exc}"[:255]
        )


def event_retry(*, event_id: int) -> ActivityEvent:
    """Put a failed event back to pending and apply it again (admin action)."""
    with transaction.atomic():
        ActivityEvent.objects.filter(pk=event_id, status=EventStatus.FAILED).update(status=EventStatus.PENDING, note="")
        event = ActivityEvent.objects.get(pk=event_id)
        user = event.user or _resolve_user(
            source=event.source, email=event.user_email, external_id=event.user_external_id, user_id=None
        )
        if user is not None and event.status == EventStatus.PENDING:
            _apply_one(event_id=event.pk, user=user)
    event.refresh_from_db()
    return event


# --- applying events --------------------------------------------------------------------------


def _author_keys(user: User) -> set[str]:
    keys = {f"user:{user.pk}", f"email:{user.email.lower()}"}
    for source, ext in MemberLink.objects.filter(user=user).values_list("integration__name", "external_id"):
        keys.add(f"ext:{source}:{ext}")
    return keys


def _voter_key(source: str, voter: dict[str, str]) -> str:
    if "email" in voter:
        uid = User.objects.filter(email__iexact=voter["email"]).values_list("pk", flat=True).first()
        return f"user:{uid}" if uid else f"email:{voter['email']}"
    link = MemberLink.objects.filter(integration__name=source, external_id=voter["external_id"]).first()
    return f"user:{link.user_id}" if link else f"ext:{source}:{voter['external_id']}"


def _live_rules(event_type: str, at: datetime) -> list[EarningRule]:
    return [
        r for r in EarningRule.objects.filter(event_type=event_type, is_active=True).order_by("pk") if r.is_live(at)
    ]


def _apply_event(*, event: ActivityEvent, user: User, profile: RewardProfile) -> list[str]:
    now = timezone.now()
    obj = event.object_key
    notes: list[str] = []
    kind = event.type
    if kind == EventType.POST_UPVOTED:
        if DeletedObject.objects.filter(object_key=obj).exists():
            return ["object was deleted"]
        authors = _author_keys(user)
        voter = _voter_key(event.source, _clean_identity(event.data.get("voter")))
        if voter in authors:
            notes.append("self-vote ignored")
        else:
            try:
                with transaction.atomic():
                    ObjectVote.objects.create(object_key=obj, voter_key=voter)
            except IntegrityError:
                notes.append("voter counted already")
        count = ObjectVote.objects.filter(object_key=obj).exclude(voter_key__in=authors).count()
        for rule in _live_rules(kind, now):
            if count < rule.min_upvotes:
                notes.append(f"{rule.name}: {count}/{rule.min_upvotes} upvotes")
                continue
            notes.append(_award(rule=rule, user=user, object_key=obj, event=event, profile=profile, now=now))
    elif kind == EventType.POST_UNVOTED:
        authors = _author_keys(user)
        voter = _voter_key(event.source, _clean_identity(event.data.get("voter")))
        ObjectVote.objects.filter(object_key=obj, voter_key=voter).delete()
        count = ObjectVote.objects.filter(object_key=obj).exclude(voter_key__in=authors).count()
        awards = Award.objects.filter(
            user=user, object_key=obj, status=AwardStatus.ACTIVE, rule__event_type=EventType.POST_UPVOTED
        ).select_related("rule")
        for award in awards:
            if award.rule.min_upvotes > count:
                notes.append(_reverse(award=award, profile=profile, now=now, reason="vote withdrawn"))
    elif kind == EventType.POST_DELETED:
        DeletedObject.objects.get_or_create(object_key=obj)
        for award in Award.objects.filter(user=user, object_key__startswith=obj, status=AwardStatus.ACTIVE):
            if award.object_key == obj or award.object_key.startswith(f"{obj}#"):
                notes.append(_reverse(award=award, profile=profile, now=now, reason="post deleted"))
    elif kind == EventType.ANSWER_UNACCEPTED:
        for award in Award.objects.filter(
            user=user, object_key=obj, status=AwardStatus.ACTIVE, rule__event_type=EventType.ANSWER_ACCEPTED
        ):
            notes.append(_reverse(award=award, profile=profile, now=now, reason="answer unaccepted"))
    else:
        if DeletedObject.objects.filter(object_key=obj).exists():
            return [*notes, "object was deleted"]
        for rule in _live_rules(kind, now):
            notes.append(_award(rule=rule, user=user, object_key=obj, event=event, profile=profile, now=now))
    return notes or ["no rule applies"]


def _cycle_start(cycle: str, now: datetime) -> datetime | None:
    day = now.replace(hour=0, minute=0, second=0, microsecond=0)
    if cycle == Cycle.DAY:
        return day
    if cycle == Cycle.WEEK:
        return day - timedelta(days=day.weekday())
    if cycle == Cycle.MONTH:
        return day.replace(day=1)
    return None


def _booster_for(rule: EarningRule, now: datetime) -> Booster | None:
    return (
        Booster.objects.filter(rules=rule, is_active=True, starts_at__lte=now, ends_at__gt=now)
        .order_by("-multiplier", "pk")
        .first()
    )


def _award(
    *,
    rule: EarningRule,
    user: User,
    object_key: str,
    event: ActivityEvent | None,
    profile: RewardProfile,
    now: datetime,
) -> str:
    """Pay `rule` to `user` for the object, within limits and the daily cap. The profile is locked.

    Returns a note for the event log.
    """
    if not rule.once_per_object and event is not None:
        object_key = f"{object_key}#{event.pk}"
    mine = Award.objects.filter(rule=rule, user=user, status=AwardStatus.ACTIVE)
    if mine.filter(object_key=object_key).exists():
        return f"{rule.name}: already awarded"
    if rule.cycle == Cycle.ONCE and mine.exists():
        return f"{rule.name}: once per member, already awarded"
    start = _cycle_start(rule.cycle, now)
    if start is not None and rule.max_per_cycle and mine.filter(created_at__gte=start).count() >= rule.max_per_cycle:
        return f"{rule.name}: {rule.max_per_cycle} per {rule.cycle} reached"
    booster = _booster_for(rule, now)
    amount = rule.amount
    if booster is not None:
        amount = int((Decimal(rule.amount) * booster.multiplier).to_integral_value(rounding=ROUND_DOWN))
    counts = not rule.exempt_from_daily_cap
    if counts:
        day = now.replace(hour=0, minute=0, second=0, microsecond=0)
        used = (
            Award.objects.filter(
                user=user, status=AwardStatus.ACTIVE, counts_toward_cap=True, created_at__gte=day
            ).aggregate(s=Sum("amount"))["s"]
            or 0
        )
        remaining = daily_cap_minor() - used
        if remaining <= 0:
            return f"{rule.name}: daily cap reached"
        amount = min(amount, remaining)
    if amount <= 0:
        return f"{rule.name}: nothing to pay"
    generation = (
        Award.objects.filter(rule=rule, user=user, object_key=object_key).aggregate(g=Max("generation"))["g"] or 0
    ) + 1
    award = Award.objects.create(
        rule=rule,
        user=user,
        object_key=object_key,
        generation=generation,
        event=event,
        amount=amount,
        base_amount=rule.amount,
        booster=booster,
        counts_toward_cap=counts,
        created_at=now,
    )
    award.transfer = wallet.transfer_post(
        from_account=wallet.system_account(name=SystemAccount.REWARDS_POOL),
        to_account=wallet.user_account(user_id=user.pk),
        amount=amount,
        kind=TransferKind.EARN,
        idempotency_key=_key("rewards:earn", rule.pk, user.pk, object_key, generation),
        memo=rule.name + (f" ({booster.name})" if booster else ""),
        cause=award,
    )
    award.save(update_fields=["transfer"])
    _totals_add(user_id=user.pk, at=award.created_at, delta=amount)
    logger.info("Award #%s: %s to user #%s for %s", award.pk, amount, user.pk, object_key)
    recovered = _recover_debt(profile=profile, award=award)
    note = f"{rule.name}: +{default_currency().to_decimal(amount)}"
    return note + (f" (debt recovered {default_currency().to_decimal(recovered)})" if recovered else "")


def _recover_debt(*, profile: RewardProfile, award: Award) -> int:
    """Pay down the user's reward debt from a fresh award (profile locked). Returns the amount."""
    if profile.debt <= 0:
        return 0
    budget = award.amount
    recovered = 0
    for debt in RewardDebt.objects.filter(user_id=profile.user_id, recovered__lt=F("amount")).order_by("pk"):
        take = min(debt.outstanding, budget)
        if take <= 0:
            break
        try:
            transfer = wallet.transfer_post(
                from_account=wallet.user_account(user_id=profile.user_id),
                to_account=wallet.system_account(name=SystemAccount.REWARDS_POOL),
                amount=take,
                kind=TransferKind.REVERSAL,
                idempotency_key=_key("rewards:recover", debt.pk, award.pk),
                memo=f"Recovery of reversed reward #{debt.award_id}",
                cause=debt,
            )
        except InsufficientFunds:
            break  # spent meanwhile; the debt waits for the next award
        DebtRecovery.objects.create(debt=debt, award=award, amount=take, transfer=transfer)
        RewardDebt.objects.filter(pk=debt.pk).update(recovered=F("recovered") + take)
        budget -= take
        recovered += take
    if recovered:
        profile.debt -= recovered
        profile.save(update_fields=["debt"])
    return recovered


def _reverse(*, award: Award, profile: RewardProfile, now: datetime, reason: str) -> str:
    """Take an award back with a linked reversal; what the balance cannot cover becomes a debt.

    The profile is locked. A transfer is reversed at most once (the ledger's unique link).
    """
    award = Award.objects.select_for_update(no_key=True).get(pk=award.pk)
    if award.status != AwardStatus.ACTIVE or award.transfer is None:
        return f"award #{award.pk} already reversed"
    account = wallet.user_account(user_id=award.user_id)
    pool = wallet.system_account(name=SystemAccount.REWARDS_POOL)
    reversal: Transfer | None = None
    want = award.amount
    for _ in range(3):  # the available balance can shrink between reading it and posting
        account.refresh_from_db(fields=["balance", "held"])
        take = min(want, account.available)
        if take <= 0:
            break
        try:
            if take == want:
                reversal = wallet.transfer_reverse(transfer=award.transfer, memo=f"Reversal: {reason}")
            else:
                reversal = wallet.transfer_post(
                    from_account=account,
                    to_account=pool,
                    amount=take,
                    kind=TransferKind.REVERSAL,
                    idempotency_key=f"reversal:{award.transfer_id}",
                    memo=f"Partial reversal: {reason}",
                    cause=award,
                    reverses=award.transfer,
                )
            break
        except InsufficientFunds:
            continue
    covered = reversal.amount if reversal is not None else 0
    debt = award.amount - covered
    if debt > 0:
        RewardDebt.objects.create(user_id=award.user_id, award=award, amount=debt, created_at=now)
        profile.debt += debt
        profile.save(update_fields=["debt"])
    award.status = AwardStatus.REVERSED
    award.reversal_transfer = reversal
    award.reversed_at = now
    award.save(update_fields=["status", "reversal_transfer", "reversed_at"])
    # The whole award leaves the leaderboard now, in the period it was earned in.
    _totals_add(user_id=award.user_id, at=award.created_at, delta=-award.amount)
    logger.info("Award #%s: reversed (%s), %s taken back, %s recorded as debt", award.pk, reason, covered, debt)
    cur = default_currency()
    return f"reversed award #{award.pk} ({reason}): -{cur.to_decimal(covered)}" + (
        f", debt {cur.to_decimal(debt)}" if debt else ""
    )


def award_reverse(*, award_id: int, reason: str = "reversed by staff") -> Award:
    """Staff reversal of one award (admin action)."""
    with transaction.atomic(durable=True):
        award = Award.objects.get(pk=award_id)
        profile = _lock_profile(award.user_id)
        _reverse(award=award, profile=profile, now=timezone.now(), reason=reason)
    award.refresh_from_db()
    return award


# --- reward store -----------------------------------------------------------------------------


@dataclass(frozen=True)
class RedeemResult:
    redemption: Redemption
    created: bool


def reward_redeem(*, user_id: int, reward_id: int, idempotency_key: str | None = None) -> RedeemResult:
    """Redeem a reward: one atomic operation.

    Steps, under the user's profile lock: return the earlier redemption for a reused
    idempotency key; check the reward is live and the per-user limit; take one from stock with a
    conditional UPDATE (`stock > 0`: the last item cannot be sold twice); create the Redemption;
    debit the user (`redeem`); fulfil (group, badge, title) or leave it for staff (manual).
    Any error rolls all of it back, stock included.

    Raises RewardUnavailable, LimitReached, OutOfStock, InsufficientFunds, IdempotencyConflict.
    """
    if idempotency_key is not None and not (1 <= len(idempotency_key) <= 100):
        raise IdempotencyConflict("idempotency_key must be 1 to 100 characters.")
    now = timezone.now()
    with transaction.atomic(durable=True):
        profile = _lock_profile(user_id)
        if idempotency_key:
            existing = Redemption.objects.filter(user_id=user_id, idempotency_key=idempotency_key).first()
            if existing is not None:
                if existing.reward_id != reward_id:
                    raise IdempotencyConflict("This idempotency_key was used for another reward.")
                return RedeemResult(redemption=existing, created=False)
        reward = Reward.objects.filter(pk=reward_id).first()
        if reward is None or not reward.is_live(now):
            raise RewardUnavailable("This reward is not available.")
        mine = Redemption.objects.filter(user_id=user_id, reward=reward)
        if (
            reward.per_user_limit is not None
            and mine.exclude(status=RedemptionStatus.CANCELLED).count() >= reward.per_user_limit
        ):
            raise LimitReached(f"You can redeem {reward.name} at most {reward.per_user_limit} time(s).")
        if reward.stock is not None:
            # Conditional decrement: concurrent buyers of the last item queue on this row and
            # re-check `stock > 0` after the first commits, so only one of them gets it.
            taken = Reward.objects.filter(pk=reward.pk, stock__gt=0).update(stock=F("stock") - 1)
            if not taken:
                raise OutOfStock(f"{reward.name} is out of stock.")
        key = idempotency_key or f"auto-{reward.pk}-{mine.count() + 1}-{uuid.uuid4().hex[:12]}"
        redemption = Redemption.objects.create(
            user_id=user_id, reward=reward, price=reward.price, status=RedemptionStatus.PENDING, idempotency_key=key
        )
        redemption.transfer = wallet.transfer_post(
            from_account=wallet.user_account(user_id=user_id),
            to_account=wallet.system_account(name=SystemAccount.REVENUE),
            amount=reward.price,
            kind=TransferKind.REDEEM,
            idempotency_key=_key("rewards:redeem", user_id, key),
            memo=f"Reward: {reward.name}",
            cause=redemption,
        )
        redemption.save(update_fields=["transfer"])
        if reward.kind != RewardKind.MANUAL:
            _fulfil(redemption=redemption, reward=reward, profile=profile, now=now)
    logger.info("Redemption #%s: %s by user #%s (%s)", redemption.pk, reward.name, user_id, redemption.status)
    return RedeemResult(redemption=redemption, created=True)


def _fulfil(*, redemption: Redemption, reward: Reward, profile: RewardProfile, now: datetime) -> None:
    user = User.objects.get(pk=redemption.user_id)
    if reward.kind in (RewardKind.PREMIUM_ACCESS, RewardKind.VIP_GROUP) and reward.group_id:
        user.groups.add(reward.group_id)
        if reward.duration_days:
            # Renewing extends from the current grant's end, not from today.
            latest = GroupGrant.objects.filter(user=user, group_id=reward.group_id, removed_at__isnull=True).aggregate(
                m=Max("expires_at")
            )["m"]
            start = max(latest, now) if latest else now
            GroupGrant.objects.create(
                user=user,
                group_id=reward.group_id,
                redemption=redemption,
                expires_at=start + timedelta(days=reward.duration_days),
            )
    elif reward.kind == RewardKind.BADGE:
        UserBadge.objects.get_or_create(
            user=user, label=(reward.badge_label or reward.name)[:40], defaults={"redemption": redemption}
        )
    elif reward.kind == RewardKind.CUSTOM_TITLE:
        profile.title = (reward.title_text or reward.name)[:60]
        profile.save(update_fields=["title"])
    redemption.status = RedemptionStatus.FULFILLED
    redemption.resolved_at = now
    redemption.save(update_fields=["status", "resolved_at"])


def redemption_fulfil(*, redemption_id: int, staff_id: int | None, note: str = "") -> Redemption:
    """Staff mark a pending (manual) redemption fulfilled. Raises RedemptionNotPending."""
    with transaction.atomic(durable=True):
        redemption = Redemption.objects.select_for_update(no_key=True).select_related("reward").get(pk=redemption_id)
        if redemption.status != RedemptionStatus.PENDING:
            raise RedemptionNotPending(f"Redemption #{redemption.pk} is {redemption.status}.")
        profile = _lock_profile(redemption.user_id)
        _fulfil(redemption=redemption, reward=redemption.reward, profile=profile, now=timezone.now())
        redemption.resolved_by_id = staff_id
        redemption.staff_note = note[:255]
        redemption.save(update_fields=["resolved_by", "staff_note"])
    return redemption


def redemption_cancel(*, redemption_id: int, staff_id: int | None, note: str = "") -> Redemption:
    """Staff cancel a pending redemption: refund the coins (linked `refund`) and restock."""
    with transaction.atomic(durable=True):
        redemption = (
            Redemption.objects.select_for_update(no_key=True, of=("self",))
            .select_related("reward", "transfer")
            .get(pk=redemption_id)
        )
        if redemption.status != RedemptionStatus.PENDING:
            raise RedemptionNotPending(f"Redemption #{redemption.pk} is {redemption.status}.")
        original = redemption.transfer
        assert original is not None
        redemption.refund_transfer = wallet.transfer_post(
            from_account=original.credit_account,
            to_account=original.debit_account,
            amount=original.amount,
            kind=TransferKind.REFUND,
            idempotency_key=f"reversal:{original.pk}",
            memo=f"Refund: {redemption.reward.name}",
            cause=redemption,
            reverses=original,
            created_by_id=staff_id,
        )
        if redemption.reward.stock is not None:
            Reward.objects.filter(pk=redemption.reward_id).update(stock=F("stock") + 1)
        redemption.status = RedemptionStatus.CANCELLED
        redemption.resolved_at = timezone.now()
        redemption.resolved_by_id = staff_id
        redemption.staff_note = note[:255]
        redemption.save(update_fields=["refund_transfer", "status", "resolved_at", "resolved_by", "staff_note"])
    return redemption


def group_grants_expire(*, now: datetime | None = None, limit: int = 500) -> int:
    """Remove group memberships whose grants ran out (and that no live grant still covers)."""
    now = now or timezone.now()
    due = list(GroupGrant.objects.filter(removed_at__isnull=True, expires_at__lte=now).order_by("pk")[:limit])
    removed = 0
    for grant in due:
        with transaction.atomic():
            updated = GroupGrant.objects.filter(pk=grant.pk, removed_at__isnull=True).update(removed_at=now)
            if not updated:
                continue
            still = GroupGrant.objects.filter(
                user_id=grant.user_id, group_id=grant.group_id, removed_at__isnull=True, expires_at__gt=now
            ).exists()
            if not still:
                User.objects.get(pk=grant.user_id).groups.remove(grant.group_id)
                removed += 1
    return removed


# --- bounties ---------------------------------------------------------------------------------
#
# Escrow, not a wallet hold: a bounty lives for days (7 by default, plus grace), while wallet holds
# are short reservations that `holds_expire` releases after GOLDBOOK_HOLD_TTL_SECONDS. An escrow
# transfer (user → escrow system account) shows the coins leaving at once in the member's history,
# and the escrow account's balance is exactly the sum of open bounties.
#
# Stack Exchange's rules, adopted: a bounty runs 7 days (`expires_in_days`, 1–30 here); after it
# expires the offerer has a 24-hour grace period in which they can still award it; only the offerer
# awards, never to themselves, one winner. Differences, as the issue asks: a bounty may be cancelled
# while nobody has answered (SE never refunds), and one not awarded by the end of the grace period
# is returned to the offerer (SE keeps it, or auto-awards half to the top answer; we have no answer
# scores to do that fairly).


def bounty_create(
    *,
    offerer_id: int,
    thread_ref: str,
    title: str,
    amount: int,
    expires_in_days: int | None = None,
    idempotency_key: str | None = None,
) -> Bounty:
    """Offer a bounty: the coins move to the escrow system account at once.

    Raises InvalidBounty, InsufficientFunds.
    """
    days = settings.REWARDS_BOUNTY_DAYS if expires_in_days is None else expires_in_days
    if not 1 <= days <= settings.REWARDS_BOUNTY_MAX_DAYS:
        raise InvalidBounty(f"expires_in_days must be between 1 and {settings.REWARDS_BOUNTY_MAX_DAYS}.")
    minimum = default_currency().to_minor(Decimal(str(settings.REWARDS_BOUNTY_MIN)))
    if not isinstance(amount, int) or amount < minimum or amount > wallet.MAX_AMOUNT:
        raise InvalidBounty(f"A bounty is at least {default_currency().to_decimal(minimum)}.")
    thread_ref, title = thread_ref.strip()[:200], title.strip()[:200]
    if not thread_ref or not title:
        raise InvalidBounty("A bounty needs a thread and a title.")
    key = idempotency_key or uuid.uuid4().hex
    now = timezone.now()
    with transaction.atomic(durable=True):
        _lock_profile(offerer_id)
        existing = Bounty.objects.filter(offerer_id=offerer_id, idempotency_key=key).first()
        if existing is not None:
            return existing
        expires = now + timedelta(days=days)
        bounty = Bounty.objects.create(
            offerer_id=offerer_id,
            thread_ref=thread_ref,
            title=title,
            amount=amount,
            created_at=now,
            expires_at=expires,
            grace_ends_at=expires + timedelta(hours=settings.REWARDS_BOUNTY_GRACE_HOURS),
            idempotency_key=key,
        )
        bounty.escrow_transfer = wallet.transfer_post(
            from_account=wallet.user_account(user_id=offerer_id),
            to_account=wallet.system_account(name=SystemAccount.ESCROW),
            amount=amount,
            kind=TransferKind.ESCROW,
            idempotency_key=f"rewards:bounty:{bounty.pk}:escrow",
            memo=f"Bounty: {title}"[:255],
            cause=bounty,
        )
        bounty.save(update_fields=["escrow_transfer"])
    logger.info("Bounty #%s: %s escrowed by user #%s on %s", bounty.pk, amount, offerer_id, thread_ref)
    return bounty


def _lock_bounty(bounty_id: int) -> Bounty:
    bounty = Bounty.objects.select_for_update(no_key=True).filter(pk=bounty_id).first()
    if bounty is None:
        raise BountyNotFound("No such bounty.")
    return bounty


def bounty_award(*, bounty_id: int, actor_id: int, winner_email: str) -> Bounty:
    """The offerer awards the bounty to an answerer: escrow pays the winner (`bounty`).

    Allowed while open and until the grace period ends (Stack Exchange's 24 hours after expiry).
    Raises BountyNotFound, NotOfferer, BountyClosed, WinnerNotFound, InvalidBounty.
    """
    now = timezone.now()
    with transaction.atomic(durable=True):
        bounty = _lock_bounty(bounty_id)  # the domain row first, then accounts
        if bounty.offerer_id != actor_id:
            raise NotOfferer("Only the member who offered the bounty can award it.")
        if bounty.status != BountyStatus.OPEN or now >= bounty.grace_ends_at:
            state = "has expired" if bounty.status == BountyStatus.OPEN else f"is {bounty.status}"
            raise BountyClosed(f"This bounty {state}.")
        winner = User.objects.filter(email__iexact=(winner_email or "").strip()).first()
        if winner is None or not winner.is_active:
            raise WinnerNotFound("No member has that email address.")
        if winner.pk == bounty.offerer_id:
            raise InvalidBounty("You cannot award your own bounty to yourself.")
        payout = wallet.transfer_post(
            from_account=wallet.system_account(name=SystemAccount.ESCROW),
            to_account=wallet.user_account(user_id=winner.pk),
            amount=bounty.amount,
            kind=TransferKind.BOUNTY,
            idempotency_key=f"rewards:bounty:{bounty.pk}:payout",
            memo=f"Bounty won: {bounty.title}"[:255],
            cause=bounty,
        )
        bounty.status = BountyStatus.AWARDED
        bounty.winner = winner
        bounty.payout_transfer = payout
        bounty.resolved_at = now
        bounty.save(update_fields=["status", "winner", "payout_transfer", "resolved_at"])
        _totals_add(user_id=winner.pk, at=payout.created_at, delta=bounty.amount)
    logger.info("Bounty #%s: awarded to user #%s", bounty.pk, winner.pk)
    return bounty


def _bounty_refund(bounty: Bounty, status: BountyStatus, now: datetime) -> None:
    escrow = bounty.escrow_transfer
    assert escrow is not None
    wallet.transfer_post(
        from_account=escrow.credit_account,
        to_account=escrow.debit_account,
        amount=escrow.amount,
        kind=TransferKind.REFUND,
        idempotency_key=f"reversal:{escrow.pk}",
        memo=f"Bounty returned: {bounty.title}"[:255],
        cause=bounty,
        reverses=escrow,
    )
    bounty.status = status
    bounty.resolved_at = now
    bounty.save(update_fields=["status", "resolved_at"])


def bounty_cancel(*, bounty_id: int, actor_id: int) -> Bounty:
    """The offerer cancels an open bounty that has no answers yet; the coins come back.

    Raises BountyNotFound, NotOfferer, BountyClosed, BountyHasAnswers.
    """
    now = timezone.now()
    with transaction.atomic(durable=True):
        bounty = (
            Bounty.objects.select_related("escrow_transfer")
            .select_for_update(no_key=True, of=("self",))
            .filter(pk=bounty_id)
            .first()
        )
        if bounty is None:
            raise BountyNotFound("No such bounty.")
        if bounty.offerer_id != actor_id:
            raise NotOfferer("Only the member who offered the bounty can cancel it.")
        if bounty.status != BountyStatus.OPEN:
            raise BountyClosed(f"This bounty is {bounty.get_status_display().lower()}.")
        if bounty.answer_count > 0:
            raise BountyHasAnswers("Answers have been posted: award the bounty instead of cancelling it.")
        _bounty_refund(bounty, BountyStatus.CANCELLED, now)
    return bounty


def bounties_expire(*, now: datetime | None = None, limit: int = 500) -> int:
    """Return the coins of bounties whose grace period ended without an award."""
    now = now or timezone.now()
    due = list(
        Bounty.objects.filter(status=BountyStatus.OPEN, grace_ends_at__lte=now)
        .order_by("grace_ends_at")
        .values_list("pk", flat=True)[:limit]
    )
    expired = 0
    for bounty_id in due:
        with transaction.atomic(durable=True):
            bounty = (
                Bounty.objects.select_related("escrow_transfer")
                .select_for_update(no_key=True, of=("self",))
                .get(pk=bounty_id)
            )
            if bounty.status != BountyStatus.OPEN or bounty.grace_ends_at > now:
                continue
            _bounty_refund(bounty, BountyStatus.EXPIRED, now)
            expired += 1
            logger.info("Bounty #%s: expired, %s returned to user #%s", bounty.pk, bounty.amount, bounty.offerer_id)
    return expired


# --- referrals --------------------------------------------------------------------------------


def _wallet_addresses(user_id: int) -> set[str]:
    """Crypto wallet addresses known for a user, from the payments app when it provides them."""
    path = getattr(settings, "REWARDS_WALLET_ADDRESSES_PROVIDER", "")
    if not path:
        return set()
    provider: Callable[[int], Iterable[str]] = import_string(path)
    return {a.lower() for a in provider(user_id) if a}


def referral_attach(*, user_id: int, code: str, ip: str | None) -> Referral:
    """Record that `code`'s owner referred this (new) user. The first referral sticks.

    Self-referral is refused; a referrer seen on the same IP is recorded (`same_ip`) so the
    payout waits for staff review. Raises ReferralRefused.
    """
    code = (code or "").strip()[:16]
    profile = RewardProfile.objects.filter(referral_code=code).first() if code else None
    if profile is None:
        raise ReferralRefused("This referral link is not valid.")
    if profile.user_id == user_id:
        raise ReferralRefused("You cannot refer yourself.")
    existing = Referral.objects.filter(referred_id=user_id).first()
    if existing is not None:
        return existing
    same_ip = bool(ip) and (
        ApiSession.objects.filter(user_id=profile.user_id, ip=ip).exists()
        or Referral.objects.filter(referred_id=profile.user_id, ip=ip).exists()
    )
    try:
        with transaction.atomic():
            referral = Referral.objects.create(
                referrer_id=profile.user_id, referred_id=user_id, code=code, ip=ip or None, same_ip=same_ip
            )
    except IntegrityError:
        return Referral.objects.get(referred_id=user_id)
    logger.info("Referral #%s: user #%s referred #%s (same_ip=%s)", referral.pk, profile.user_id, user_id, same_ip)
    return referral


def referral_on_first_purchase(
    *, user_id: int, purchase_ref: str, wallet_address: str | None = None
) -> Referral | None:
    """Pay the referrer of `user_id` once, on the referred user's first purchase.

    Idempotent: a second call (another purchase, or a retry) changes nothing. Heuristic matches
    (same IP at attach time, or the purchase paid from a wallet the referrer uses) hold the
    payout for staff review instead. Returns the referral, or None when the user was not referred.
    """
    with transaction.atomic():
        referral = Referral.objects.select_for_update(no_key=True).filter(referred_id=user_id).first()
        if referral is None or referral.status != ReferralStatus.ATTACHED:
            return referral
        if wallet_address and wallet_address.lower() in _wallet_addresses(referral.referrer_id):
            referral.same_wallet = True
        referral.purchase_ref = purchase_ref[:120]
        referral.converted_at = timezone.now()
        if referral.same_ip or referral.same_wallet:
            referral.status = ReferralStatus.REVIEW
            referral.save(update_fields=["same_wallet", "purchase_ref", "converted_at", "status"])
            return referral
        _referral_pay(referral)
        referral.save(update_fields=["same_wallet", "purchase_ref", "converted_at", "status"])
    return referral


def _referral_pay(referral: Referral) -> None:
    activity_record(
        source=GOLDBOOK_SOURCE,
        event_id=f"referral:{referral.pk}",
        type=EventType.REFERRAL_CONVERTED,
        user_id=referral.referrer_id,
        object_type="user",
        object_id=str(referral.referred_id),
        data={"purchase_ref": referral.purchase_ref},
    )
    referral.status = ReferralStatus.PAID


def referral_review(*, referral_id: int, approve: bool, staff_id: int | None, note: str = "") -> Referral:
    """Staff decide on a referral held for review: approve pays the referrer, reject never will."""
    with transaction.atomic(durable=True):
        referral = Referral.objects.select_for_update(no_key=True).get(pk=referral_id)
        if referral.status != ReferralStatus.REVIEW:
            return referral
        if approve:
            _referral_pay(referral)
        else:
            referral.status = ReferralStatus.REJECTED
        referral.review_note = note[:255] or f"decided by staff #{staff_id}"
        referral.save(update_fields=["status", "review_note"])
    return referral


# --- integrations -----------------------------------------------------------------------------


def integration_create(*, name: str) -> tuple[Integration, str]:
    """Create an integration and return it with its new secret (shown once to the operator)."""
    secret = secrets.token_hex(32)
    with transaction.atomic():
        integration = Integration.objects.create(name=name, secret=secret)
    return integration, secret


def integration_rotate(*, name: str) -> tuple[Integration, str]:
    secret = secrets.token_hex(32)
    integration = Integration.objects.get(name=name)
    integration.secret = secret
    integration.save(update_fields=["secret"])
    return integration, secret
