"""Referral signals: rings (A refers B refers A, or a longer cycle of at most
FRAUD_RING_MAX_LENGTH members) and referrers whose referrals came from their own IP or wallet.

Every member has at most one referrer, so a ring is a cycle of "referred by" links; each cycle
length is one self-join on the unique `referred_id` index, reported once (from its lowest id)."""

from django.conf import settings
from django.db import connection
from django.db.models import Count, Q
from django.utils.translation import gettext as _

from rewards.models import Referral

from .base import Evidence, Signal, SignalKind, admin_url, limit


def referral_evidence(r: Referral, detail: str = "") -> Evidence:
    """A referral as evidence: who referred whom (and `detail`, e.g. its status), with its admin link."""
    who = _("member #%(referrer)s referred #%(referred)s") % {"referrer": r.referrer_id, "referred": r.referred_id}
    return Evidence(
        label=_("Referral #%(id)s") % {"id": r.pk},
        url=admin_url("rewards", "referral", r.pk),
        detail=f"{who} · {detail}" if detail else who,
    )


def _ring_sql(n: int) -> str:
    """Cycles of exactly n referrals: r1.referred ← r1.referrer = r2.referred ← … ← rn.referrer = r1.referred."""
    joins = " ".join(f"JOIN rewards_referral r{i} ON r{i}.referred_id = r{i - 1}.referrer_id" for i in range(2, n + 1))
    lowest = " AND ".join(f"r1.referred_id < r{i}.referred_id" for i in range(2, n + 1))
    columns = ", ".join(f"r{i}.id" for i in range(1, n + 1))
    return (
        f"SELECT {columns} FROM rewards_referral r1 {joins}"  # noqa: S608 (built from integers)
        f" WHERE r{n}.referrer_id = r1.referred_id AND {lowest} ORDER BY r1.referred_id LIMIT %s"
    )


def referral_rings() -> list[Signal]:
    rings: list[tuple[int, ...]] = []
    with connection.cursor() as cursor:
        for n in range(2, max(2, settings.FRAUD_RING_MAX_LENGTH) + 1):
            cursor.execute(_ring_sql(n), [limit()])
            rings += [tuple(row) for row in cursor.fetchall()]
    referrals = Referral.objects.in_bulk([pk for ring in rings for pk in ring])
    signals = []
    for ring in rings[: limit()]:
        links = [referrals[pk] for pk in ring]
        users = tuple(sorted(r.referred_id for r in links))
        signals.append(
            Signal(
                kind=SignalKind.REFERRAL_RING,
                subject="-".join(str(u) for u in users),
                user_ids=users,
                summary=_("%(n)s members referred each other in a ring.") % {"n": len(users)},
                evidence=tuple(referral_evidence(r, r.get_status_display()) for r in links),
            )
        )
    return signals


def referral_clusters() -> list[Signal]:
    """Referrers with two or more referrals that signed up from their own IP or paid from their wallet."""
    own = Q(same_ip=True) | Q(same_wallet=True)
    referrers = (
        Referral.objects.filter(own)
        .values("referrer_id")
        .annotate(n=Count("pk"))
        .filter(n__gte=2)
        .order_by("-n", "referrer_id")[: limit()]
    )
    signals = []
    for row in referrers:
        links = list(Referral.objects.filter(own, referrer_id=row["referrer_id"]).order_by("-pk")[:20])
        users = tuple([row["referrer_id"], *sorted(r.referred_id for r in links)])
        signals.append(
            Signal(
                kind=SignalKind.REFERRAL_CLUSTER,
                subject=str(row["referrer_id"]),
                user_ids=users,
                summary=_("%(n)s referrals of member #%(id)s came from their own IP or wallet.")
                % {"n": row["n"], "id": row["referrer_id"]},
                evidence=tuple(
                    referral_evidence(
                        r,
                        ", ".join(
                            str(w) for w, on in ((_("same IP"), r.same_ip), (_("same wallet"), r.same_wallet)) if on
                        ),
                    )
                    for r in links
                ),
            )
        )
    return signals
