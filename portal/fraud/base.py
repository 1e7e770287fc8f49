"""What a fraud signal is: a kind, a subject, the members behind it and the evidence, each piece
linking to its admin page. Signals are computed on demand from bounded SQL aggregates (see the
kinds' modules); the settings' FRAUD_* thresholds decide what counts."""

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import models
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from accounts.models import User


class SignalKind(models.TextChoices):
    SHARED_WALLET = "shared_wallet", _("One wallet behind several accounts")
    SHARED_IP = "shared_ip", _("One IP behind several accounts")
    REFERRAL_RING = "referral_ring", _("Referral ring")
    REFERRAL_CLUSTER = "referral_cluster", _("Referrals from the referrer's own IP or wallet")
    DEPOSIT_VELOCITY = "deposit_velocity", _("Deposits far above the member's history")
    FLAGGED_PAYMENTS = "flagged_payments", _("Payments flagged for review")
    VOTER_GROUP = "voter_group", _("Quality awards from one small group of voters")
    REVERSED_AWARDS = "reversed_awards", _("Awards reversed often")
    EARN_THEN_BOUNTY = "earn_then_bounty", _("Earned coins moved straight out through bounties")


@dataclass(frozen=True)
class Evidence:
    """One fact behind a signal: what it is, a link to its admin page, and the detail."""

    label: str
    url: str = ""
    detail: str = ""
    ref: int = 0  # a member's id, for the forms that act on them


@dataclass(frozen=True)
class Signal:
    kind: SignalKind
    subject: str  # what the signal is about: a wallet, an IP, a member id, a ring
    user_ids: tuple[int, ...]
    summary: str
    evidence: tuple[Evidence, ...]
    members: tuple[Evidence, ...] = field(default=())

    @property
    def key(self) -> str:
        return f"{self.kind.value}:{self.subject}"[:200]

    @property
    def fingerprint(self) -> str:
        """Changes when the evidence does: a reviewed signal comes back with new evidence."""
        facts = sorted(f"{e.label}|{e.detail}" for e in self.evidence) + [str(u) for u in sorted(self.user_ids)]
        return hashlib.sha256("\n".join([self.key, *facts]).encode()).hexdigest()

    @property
    def kind_label(self) -> str | Promise:
        return self.kind.label


def admin_url(app_label: str, model: str, pk: object) -> str:
    try:
        return reverse(f"admin:{app_label}_{model}_change", args=[pk])
    except NoReverseMatch:
        return ""


def since() -> datetime:
    return timezone.now() - timedelta(days=settings.FRAUD_LOOKBACK_DAYS)


def limit() -> int:
    return int(settings.FRAUD_SIGNAL_LIMIT)


def members(user_ids: Iterable[int]) -> dict[int, Evidence]:
    """The members as evidence (email, link to their admin page), in one query."""
    ids = sorted(set(user_ids))
    rows = User.objects.filter(pk__in=ids).values_list("pk", "email")
    return {
        pk: Evidence(label=email, url=admin_url("accounts", "user", pk), detail=f"#{pk}", ref=pk) for pk, email in rows
    }


def with_members(signals: list[Signal]) -> list[Signal]:
    """Attach the member rows to each signal, one query for all of them."""
    found = members(u for s in signals for u in s.user_ids)
    return [
        Signal(
            kind=s.kind,
            subject=s.subject,
            user_ids=s.user_ids,
            summary=s.summary,
            evidence=s.evidence,
            members=tuple(found[u] for u in s.user_ids if u in found),
        )
        for s in signals
    ]


def usd(cents: int | None) -> str:
    cents = cents or 0
    return f"${cents // 100:,}.{cents % 100:02d}"
