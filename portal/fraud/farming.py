"""Reward-farming signals: one small group of voters behind most of a member's quality-post
awards, awards reversed often, coins earned and moved straight out through bounties."""

from collections import defaultdict
from datetime import timedelta

from django.conf import settings
from django.db.models import Count, DateTimeField, ExpressionWrapper, F, OuterRef, Q, Subquery, Sum
from django.db.models.functions import Coalesce
from django.utils.translation import gettext as _

from rewards.models import Award, AwardStatus, Bounty, ObjectVote
from wallet.selectors import default_currency

from .base import Evidence, Signal, SignalKind, admin_url, limit, since


def _award_evidence(a: Award, detail: str = "") -> Evidence:
    return Evidence(
        label=_("Award #%(id)s") % {"id": a.pk},
        url=admin_url("rewards", "award", a.pk),
        detail=detail or f"{a.object_key} · {a.get_status_display()} · {a.created_at:%Y-%m-%d}",
    )


def voter_groups() -> list[Signal]:
    """Members with at least FRAUD_VOTER_MIN_AWARDS quality awards (rules with an upvote
    condition) where FRAUD_VOTER_GROUP_SIZE voters cast FRAUD_VOTER_SHARE of the votes on them."""
    quality = Award.objects.filter(rule__min_upvotes__gt=0, created_at__gte=since())
    candidates = list(
        quality.values("user_id")
        .annotate(n=Count("object_key", distinct=True))
        .filter(n__gte=settings.FRAUD_VOTER_MIN_AWARDS)
        .order_by("-n", "user_id")
        .values_list("user_id", flat=True)[: limit() * 4]
    )
    votes: dict[int, dict[str, int]] = defaultdict(dict)
    rows = (
        ObjectVote.objects.filter(object_key__in=Subquery(quality.filter(user_id__in=candidates).values("object_key")))
        .values_list("object_key", "voter_key")
        .distinct()
    )
    owners: dict[str, set[int]] = defaultdict(set)
    for user_id, key in quality.filter(user_id__in=candidates).values_list("user_id", "object_key"):
        owners[key].add(user_id)
    for key, voter in rows.iterator():
        for user_id in owners[key]:
            votes[user_id][voter] = votes[user_id].get(voter, 0) + 1
    size, share = settings.FRAUD_VOTER_GROUP_SIZE, settings.FRAUD_VOTER_SHARE
    signals = []
    for user_id in candidates:
        counts = sorted(votes[user_id].items(), key=lambda kv: (-kv[1], kv[0]))
        total = sum(n for _v, n in counts)
        group = counts[:size]
        if not total or sum(n for _v, n in group) < share * total:
            continue
        awards = quality.filter(user_id=user_id).order_by("-pk")[:10]
        evidence = [
            Evidence(label=_("Voter %(voter)s") % {"voter": voter}, detail=_("%(n)s votes") % {"n": n})
            for voter, n in group
        ] + [_award_evidence(a) for a in awards]
        signals.append(
            Signal(
                kind=SignalKind.VOTER_GROUP,
                subject=str(user_id),
                user_ids=(user_id,),
                summary=_("%(group)s voters cast %(share)s%% of the votes on this member's quality awards.")
                % {"group": len(group), "share": round(100 * sum(n for _v, n in group) / total)},
                evidence=tuple(evidence),
            )
        )
        if len(signals) >= limit():
            break
    return signals


def reversed_awards() -> list[Signal]:
    """Members with at least FRAUD_REVERSALS_MIN reversed awards, FRAUD_REVERSALS_SHARE of theirs."""
    reversed_ = Q(status=AwardStatus.REVERSED)
    rows = (
        Award.objects.filter(created_at__gte=since())
        .values("user_id")
        .annotate(total=Count("pk"), reversed=Count("pk", filter=reversed_))
        .filter(reversed__gte=settings.FRAUD_REVERSALS_MIN)
        .order_by("-reversed", "user_id")[: limit() * 4]
    )
    signals = []
    for row in rows:
        if row["reversed"] < settings.FRAUD_REVERSALS_SHARE * row["total"]:
            continue
        awards = Award.objects.filter(reversed_, user_id=row["user_id"], created_at__gte=since()).order_by("-pk")[:10]
        signals.append(
            Signal(
                kind=SignalKind.REVERSED_AWARDS,
                subject=str(row["user_id"]),
                user_ids=(row["user_id"],),
                summary=_("%(reversed)s of %(total)s awards were reversed.") % row,
                evidence=tuple(_award_evidence(a) for a in awards),
            )
        )
    return signals[: limit()]


def earn_then_bounty() -> list[Signal]:
    """Members who posted bounties worth FRAUD_EARN_OUT_SHARE of what they earned in the
    FRAUD_EARN_OUT_HOURS before (at least FRAUD_EARN_OUT_MIN earned): coins farmed, then handed on."""
    window = timedelta(hours=settings.FRAUD_EARN_OUT_HOURS)
    earned_before = (
        Award.objects.filter(
            user_id=OuterRef("offerer_id"),
            created_at__lte=OuterRef("created_at"),
            created_at__gte=ExpressionWrapper(OuterRef("created_at") - window, output_field=DateTimeField()),
        )
        .values("user_id")
        .annotate(total=Sum("amount"))
        .values("total")
    )
    bounties = (
        Bounty.objects.filter(created_at__gte=since())
        .annotate(earned=Coalesce(Subquery(earned_before), 0))
        .filter(earned__gte=settings.FRAUD_EARN_OUT_MIN, amount__gte=F("earned") * settings.FRAUD_EARN_OUT_SHARE)
        .order_by("-pk")[: limit() * 4]
    )
    by_user: dict[int, list[Bounty]] = defaultdict(list)
    for b in bounties:
        by_user[b.offerer_id].append(b)
    coins = default_currency().to_decimal if by_user else None
    signals = []
    for user_id, found in list(by_user.items())[: limit()]:
        winners = sorted({b.winner_id for b in found if b.winner_id})
        signals.append(
            Signal(
                kind=SignalKind.EARN_THEN_BOUNTY,
                subject=str(user_id),
                user_ids=(user_id, *[w for w in winners if w != user_id]),
                summary=_("%(n)s bounties posted right after earning the coins they hold.") % {"n": len(found)},
                evidence=tuple(
                    Evidence(
                        label=_("Bounty #%(id)s") % {"id": b.pk},
                        url=admin_url("rewards", "bounty", b.pk),
                        detail=_(
                            "%(amount)s offered, %(earned)s earned in the %(hours)s hours before; winner %(winner)s"
                        )
                        % {
                            "amount": coins(b.amount),  # type: ignore[misc]
                            "earned": coins(b.earned),  # type: ignore[attr-defined, misc]
                            "hours": settings.FRAUD_EARN_OUT_HOURS,
                            "winner": f"#{b.winner_id}" if b.winner_id else "—",
                        },
                    )
                    for b in found
                ),
            )
        )
    return signals
