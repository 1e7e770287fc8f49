"""Deposit signals: one wallet or one IP behind several accounts, deposits far above a member's
history, payments the payment flow flagged for review (seed 002: "monitor for fraudulent
deposits")."""

from collections import defaultdict
from datetime import timedelta

from django.conf import settings
from django.db import connection
from django.db.models import Count, F, Max, Q, Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from payments.models import LinkedWallet, Payment, PaymentStatus

from .base import Evidence, Signal, SignalKind, admin_url, limit, since, usd
from .referrals import referral_evidence

_WALLETS_SQL = (
    "SELECT addr, COUNT(DISTINCT user_id) AS n FROM ("
    " SELECT LOWER(wallet_address) AS addr, user_id FROM payments_payment"
    " WHERE wallet_address <> '' AND created_at >= %s"
    " UNION ALL SELECT LOWER(address), user_id FROM payments_linkedwallet"
    ") w GROUP BY addr HAVING COUNT(DISTINCT user_id) >= %s ORDER BY n DESC, addr LIMIT %s"
)


def _payment_evidence(p: Payment, why: str = "") -> Evidence:
    detail = f"{usd(p.usd_cents)} · {p.get_status_display()} · {p.created_at:%Y-%m-%d %H:%M}"
    return Evidence(
        label=_("Payment #%(id)s") % {"id": p.pk},
        url=admin_url("payments", "payment", p.pk),
        detail=f"{detail} · {why}" if why else detail,
    )


def shared_wallets() -> list[Signal]:
    """A crypto wallet (a payment's claimed sender, or a linked wallet) used by several members."""
    with connection.cursor() as cursor:
        cursor.execute(_WALLETS_SQL, [since(), settings.FRAUD_SHARED_WALLET_MIN_MEMBERS, limit()])
        found = cursor.fetchall()
    signals = []
    for addr, _n in found:
        payments = list(
            Payment.objects.filter(wallet_address__iexact=addr, created_at__gte=since()).order_by("-pk")[:20]
        )
        linked = list(LinkedWallet.objects.filter(address=addr))
        users = sorted({p.user_id for p in payments} | {w.user_id for w in linked})
        evidence = [_payment_evidence(p) for p in payments] + [
            Evidence(
                label=_("Linked wallet of member #%(id)s") % {"id": w.user_id},
                url=admin_url("payments", "linkedwallet", w.pk),
                detail=addr,
            )
            for w in linked
        ]
        signals.append(
            Signal(
                kind=SignalKind.SHARED_WALLET,
                subject=addr,
                user_ids=tuple(users),
                summary=_("Wallet %(addr)s paid for or is linked to %(n)s accounts.") % {"addr": addr, "n": len(users)},
                evidence=tuple(evidence),
            )
        )
    return signals


_BOUGHT = [PaymentStatus.COMPLETED, PaymentStatus.REFUNDED]

_IPS_SQL = (
    "SELECT ip, COUNT(DISTINCT user_id) AS n FROM ("
    " SELECT k.ip AS ip, k.user_id AS user_id FROM accounts_knownaddress k"
    " WHERE k.last_seen_at >= %s AND EXISTS (SELECT 1 FROM payments_payment p"
    "  WHERE p.user_id = k.user_id AND p.status IN ('completed', 'refunded'))"
    " UNION ALL SELECT r.ip, r.referred_id FROM rewards_referral r WHERE r.ip IS NOT NULL AND r.created_at >= %s"
    ") a GROUP BY ip HAVING COUNT(DISTINCT user_id) >= %s ORDER BY n DESC LIMIT %s"
)


def shared_ips() -> list[Signal]:
    """One IP address that members who bought credits signed in from, or referrals signed up from."""
    from accounts.models import KnownAddress
    from rewards.models import Referral

    start = since()
    with connection.cursor() as cursor:
        cursor.execute(_IPS_SQL, [start, start, settings.FRAUD_SHARED_IP_MIN_MEMBERS, limit()])
        found = cursor.fetchall()
    ips = [str(ip) for ip, _n in found]
    # The evidence of every IP found, in two queries (not two per IP), capped per IP below.
    buyers_of: dict[str, set[int]] = defaultdict(set)
    known = (
        KnownAddress.objects.filter(ip__in=ips, last_seen_at__gte=start, user__payments__status__in=_BOUGHT)
        .values_list("ip", "user_id")
        .distinct()
        .order_by("ip", "user_id")
    )
    for ip, user_id in known:
        if len(buyers_of[str(ip)]) < 50:
            buyers_of[str(ip)].add(user_id)
    referrals_of: dict[str, list[Referral]] = defaultdict(list)
    recent = Referral.objects.filter(ip__in=ips, created_at__gte=start).order_by("-pk")
    for r in recent.only("id", "ip", "referrer_id", "referred_id", "status"):
        if len(referrals_of[str(r.ip)]) < 20:
            referrals_of[str(r.ip)].append(r)
    signals = []
    for ip in ips:
        buyers, referrals = buyers_of[ip], referrals_of[ip]
        users = sorted(buyers | {r.referred_id for r in referrals})
        evidence = [referral_evidence(r) for r in referrals] + [
            Evidence(label=_("Buyer signed in from %(ip)s") % {"ip": ip}, detail=f"#{u}") for u in sorted(buyers)
        ]
        signals.append(
            Signal(
                kind=SignalKind.SHARED_IP,
                subject=ip,
                user_ids=tuple(users),
                summary=_("IP %(ip)s is behind %(n)s accounts' purchases or referrals.") % {"ip": ip, "n": len(users)},
                evidence=tuple(evidence),
            )
        )
    return signals


def deposit_velocity() -> list[Signal]:
    """Members whose deposits in the last FRAUD_VELOCITY_HOURS are far above their usual payment
    (FRAUD_VELOCITY_FACTOR times their average before), or large on a member with no history."""
    now = timezone.now()
    recent = now - timedelta(hours=settings.FRAUD_VELOCITY_HOURS)
    is_recent = Q(completed_at__gte=recent)
    rows = (
        Payment.objects.filter(status__in=[PaymentStatus.COMPLETED, PaymentStatus.REFUNDED], completed_at__gte=since())
        .values("user_id")
        .annotate(
            recent_sum=Sum("usd_cents", filter=is_recent),
            recent_n=Count("pk", filter=is_recent),
            recent_max=Max("usd_cents", filter=is_recent),
            past_sum=Sum("usd_cents", filter=~is_recent),
            past_n=Count("pk", filter=~is_recent),
        )
        .filter(recent_sum__gte=settings.FRAUD_VELOCITY_MIN_USD_CENTS)
        .order_by("-recent_sum", "user_id")[: limit() * 4]
    )
    factor = settings.FRAUD_VELOCITY_FACTOR
    flagged = []
    for row in rows:
        if row["past_n"]:
            usual = row["past_sum"] // row["past_n"]
            if row["recent_sum"] < factor * usual:
                continue
            why = _("%(recent)s in %(n)s payments within %(hours)s hours; usual payment %(usual)s") % {
                "recent": usd(row["recent_sum"]),
                "n": row["recent_n"],
                "hours": settings.FRAUD_VELOCITY_HOURS,
                "usual": usd(usual),
            }
        elif row["recent_sum"] >= settings.FRAUD_NEW_MEMBER_USD_CENTS:
            why = _("%(recent)s in %(n)s payments within %(hours)s hours, with no earlier purchase") % {
                "recent": usd(row["recent_sum"]),
                "n": row["recent_n"],
                "hours": settings.FRAUD_VELOCITY_HOURS,
            }
        else:
            continue
        flagged.append((row["user_id"], why))
    signals = []
    for user_id, why in flagged[: limit()]:
        payments = Payment.objects.filter(user_id=user_id, completed_at__gte=recent).order_by("-pk")[:20]
        signals.append(
            Signal(
                kind=SignalKind.DEPOSIT_VELOCITY,
                subject=str(user_id),
                user_ids=(user_id,),
                summary=why,
                evidence=tuple(_payment_evidence(p) for p in payments),
            )
        )
    return signals


def _flag_reason(p: Payment) -> str:
    if p.status == PaymentStatus.UNDERPAID:
        return _("underpaid")
    if p.status == PaymentStatus.NEEDS_REVIEW:
        return _("needs review")
    if p.flagged_for_review:
        return _("overpaid by %(excess)s") % {"excess": p.excess_amount or "?"}
    if "reorg" in p.status_detail.lower():
        return _("chain reorganisation")
    return _("paid after it expired")


def flagged_payments() -> list[Signal]:
    """Payments the payment flow flagged: underpaid, overpaid, needing review, paid late (after
    expiry), or caught in a chain reorganisation; one signal per member."""
    flagged = (
        Q(status__in=[PaymentStatus.UNDERPAID, PaymentStatus.NEEDS_REVIEW])
        | Q(flagged_for_review=True)
        | Q(completed_at__gt=F("expires_at"))
        | Q(status_detail__icontains="reorg")
    )
    payments = Payment.objects.filter(flagged, updated_at__gte=since()).order_by("-pk")[: limit() * 5]
    by_user: dict[int, list[Payment]] = defaultdict(list)
    for p in payments:
        by_user[p.user_id].append(p)
    return [
        Signal(
            kind=SignalKind.FLAGGED_PAYMENTS,
            subject=str(user_id),
            user_ids=(user_id,),
            summary=_("%(n)s payments flagged for review.") % {"n": len(found)},
            evidence=tuple(_payment_evidence(p, _flag_reason(p)) for p in found),
        )
        for user_id, found in list(by_user.items())[: limit()]
    ]
