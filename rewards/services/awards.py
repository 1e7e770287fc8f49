"""Awards and reversals: what an applied event pays (rules, limits, boosters, the daily cap),
what a withdrawn vote, deleted post or unaccepted answer takes back, and reward debt (the part
of a reversal the balance could not cover, recovered from later awards). The caller holds the
member's profile lock."""

import logging
from datetime import datetime, timedelta
from decimal import ROUND_DOWN, Decimal

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import User
from core.events import Event, record
from wallet import selectors as wallet_selectors
from wallet import services as wallet
from wallet.errors import InsufficientFunds
from wallet.models import SystemAccount, Transfer, TransferKind
from wallet.selectors import default_currency

from ..models import (
    ActivityEvent,
    Award,
    AwardStatus,
    Cycle,
    DeletedObject,
    EarningRule,
    EventType,
    MemberLink,
    ObjectVote,
    RewardDebt,
    RewardProfile,
)
from ._cache import AwardCache
from ._shared import clean_identity, lock_profile
from .granting import AwardRun, Grant
from .leaderboards import totals_add

Note = str | Grant  # an event's note: a Grant reads as its award once the run is posted

logger = logging.getLogger(__name__)


def daily_cap_minor() -> int:
    return default_currency().to_minor(Decimal(str(settings.REWARDS_DAILY_CAP)))


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


def apply_event(
    *,
    event: ActivityEvent,
    user: User,
    profile: RewardProfile,
    cache: AwardCache | None = None,
    run: AwardRun | None = None,
) -> list[Note]:
    """Apply one event to `user` (profile locked). `cache` carries the lookups of a run of events;
    `run` collects its awards, which the caller writes with `run.post()` (without one, they are
    written before this returns)."""
    cache = cache or AwardCache()
    if run is None:
        own = AwardRun(cache)
        written = apply_event(event=event, user=user, profile=profile, cache=cache, run=own)
        own.post()
        return written
    now = timezone.now()
    obj = event.object_key
    notes: list[Note] = []
    kind = event.type
    if kind in _TAKES_BACK:
        run.post()  # a reversal reads awards back, this run's too
    if kind == EventType.POST_UPVOTED:
        if cache.is_deleted(obj):
            return ["object was deleted"]
        authors = _author_keys(user)
        voter = _voter_key(event.source, clean_identity(event.data.get("voter")))
        if voter in authors:
            notes.append("self-vote ignored")
        else:
            try:
                with transaction.atomic():
                    ObjectVote.objects.create(object_key=obj, voter_key=voter)
            except IntegrityError:
                notes.append("voter counted already")
        count = ObjectVote.objects.filter(object_key=obj).exclude(voter_key__in=authors).count()
        for rule in cache.rules(kind, now):
            if count < rule.min_upvotes:
                notes.append(f"{rule.name}: {count}/{rule.min_upvotes} upvotes")
                continue
            notes.append(
                _award(
                    rule=rule, user=user, object_key=obj, event=event, profile=profile, now=now, cache=cache, run=run
                )
            )
    elif kind == EventType.POST_UNVOTED:
        authors = _author_keys(user)
        voter = _voter_key(event.source, clean_identity(event.data.get("voter")))
        ObjectVote.objects.filter(object_key=obj, voter_key=voter).delete()
        count = ObjectVote.objects.filter(object_key=obj).exclude(voter_key__in=authors).count()
        awards = Award.objects.filter(
            user=user, object_key=obj, status=AwardStatus.ACTIVE, rule__event_type=EventType.POST_UPVOTED
        ).select_related("rule")
        for award in awards:
            if award.rule.min_upvotes > count:
                notes.append(_reverse(award=award, profile=profile, now=now, reason="vote withdrawn", cache=cache))
    elif kind == EventType.POST_DELETED:
        DeletedObject.objects.get_or_create(object_key=obj)
        cache.mark_deleted(obj)
        for award in Award.objects.filter(user=user, object_key__startswith=obj, status=AwardStatus.ACTIVE):
            if award.object_key == obj or award.object_key.startswith(f"{obj}#"):
                notes.append(_reverse(award=award, profile=profile, now=now, reason="post deleted", cache=cache))
    elif kind == EventType.ANSWER_UNACCEPTED:
        for award in Award.objects.filter(
            user=user, object_key=obj, status=AwardStatus.ACTIVE, rule__event_type=EventType.ANSWER_ACCEPTED
        ):
            notes.append(_reverse(award=award, profile=profile, now=now, reason="answer unaccepted", cache=cache))
    else:
        if cache.is_deleted(obj):
            return [*notes, "object was deleted"]
        for rule in cache.rules(kind, now):
            notes.append(
                _award(
                    rule=rule, user=user, object_key=obj, event=event, profile=profile, now=now, cache=cache, run=run
                )
            )
    return notes or ["no rule applies"]


_TAKES_BACK = frozenset({EventType.POST_UNVOTED, EventType.POST_DELETED, EventType.ANSWER_UNACCEPTED})


def _cycle_start(cycle: str, now: datetime) -> datetime | None:
    day = now.replace(hour=0, minute=0, second=0, microsecond=0)
    if cycle == Cycle.DAY:
        return day
    if cycle == Cycle.WEEK:
        return day - timedelta(days=day.weekday())
    if cycle == Cycle.MONTH:
        return day.replace(day=1)
    return None


def _limit_reached(
    *, rule: EarningRule, user: User, object_key: str, now: datetime, cache: AwardCache
) -> tuple[str | None, int]:
    """Why `rule` may not pay `user` for this object now (once per object, per member, per
    cycle), or None when it may; and the generation a new award for the object would have."""
    statuses = cache.history(rule.pk, user.pk, object_key)  # "already awarded" and the next generation
    generation = max(statuses.values(), default=0) + 1
    if AwardStatus.ACTIVE in statuses:
        return "already awarded", generation
    return _per_member_limit(rule=rule, user=user, now=now, cache=cache), generation


def _per_member_limit(*, rule: EarningRule, user: User, now: datetime, cache: AwardCache) -> str | None:
    if rule.cycle == Cycle.ONCE and cache.rule_count(rule.pk, user.pk, None):
        return "once per member, already awarded"
    start = _cycle_start(rule.cycle, now)
    if start is not None and rule.max_per_cycle and cache.rule_count(rule.pk, user.pk, start) >= rule.max_per_cycle:
        return f"{rule.max_per_cycle} per {rule.cycle} reached"
    return None


def _utc_day(now: datetime) -> datetime:
    return now.replace(hour=0, minute=0, second=0, microsecond=0)


def _award(
    *,
    rule: EarningRule,
    user: User,
    object_key: str,
    event: ActivityEvent | None,
    profile: RewardProfile,
    now: datetime,
    cache: AwardCache,
    run: AwardRun,
) -> Note:
    """Decide whether and how much `rule` pays `user` for the object, within limits and the
    daily cap (the profile is locked), and add the award to `run`, which writes it.

    Returns the refusal, or the Grant (the note for the event log once the run is posted).
    """
    if not rule.once_per_object and event is not None:
        object_key = f"{object_key}#{event.pk}"
    refusal, generation = _limit_reached(rule=rule, user=user, object_key=object_key, now=now, cache=cache)
    if refusal:
        return f"{rule.name}: {refusal}"
    booster = cache.booster(rule, now)
    amount = rule.amount
    if booster is not None:
        amount = int((Decimal(rule.amount) * booster.multiplier).to_integral_value(rounding=ROUND_DOWN))
    counts = not rule.exempt_from_daily_cap
    if counts:
        cap = cache.currency().to_minor(Decimal(str(settings.REWARDS_DAILY_CAP)))
        remaining = cap - cache.cap_used(user.pk, _utc_day(now))
        if remaining <= 0:
            return f"{rule.name}: daily cap reached"
        amount = min(amount, remaining)
    if amount <= 0:
        return f"{rule.name}: nothing to pay"
    award = Award(
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
    if counts:
        cache.cap_spent(user.pk, _utc_day(now), amount)
    return run.add(Grant(award=award, rule=rule, booster=booster, profile=profile, currency=cache.currency()))


def _reverse(*, award: Award, profile: RewardProfile, now: datetime, reason: str, cache: AwardCache) -> str:
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
        # What is available and still in the category the award credited (earned).
        take = min(want, wallet_selectors.reversible_amount(transfer=award.transfer))
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
    cache.cap_forget(award.user_id)
    cache.history_forget(award.user_id, award.object_key)
    award.status = AwardStatus.REVERSED
    award.reversal_transfer = reversal
    award.reversed_at = now
    award.save(update_fields=["status", "reversal_transfer", "reversed_at"])
    record(
        Event.AWARD_REVERSED,
        {
            "award_id": award.pk,
            "user_id": award.user_id,
            "amount": award.amount,
            "taken": covered,
            "debt": debt,
            "reason": reason,
        },
    )
    # The whole award leaves the leaderboard now, in the period it was earned in.
    totals_add(user_id=award.user_id, at=award.created_at, delta=-award.amount)
    logger.info("Award #%s: reversed (%s), %s taken back, %s recorded as debt", award.pk, reason, covered, debt)
    cur = default_currency()
    return f"reversed award #{award.pk} ({reason}): -{cur.to_decimal(covered)}" + (
        f", debt {cur.to_decimal(debt)}" if debt else ""
    )


def award_reverse(*, award_id: int, reason: str = "reversed by staff") -> Award:
    """Staff reversal of one award (admin action)."""
    with transaction.atomic(durable=True):
        award = Award.objects.get(pk=award_id)
        profile = lock_profile(award.user_id)
        _reverse(award=award, profile=profile, now=timezone.now(), reason=reason, cache=AwardCache())
    award.refresh_from_db()
    return award
