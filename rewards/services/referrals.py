"""Referrals: a new member attached to whoever invited them, and the referrer's payout on the
member's first purchase (held for staff review when the same IP or wallet suggests one person)."""

import logging

from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import ApiSession, KnownAddress
from core.registry import wallet_addresses

from ..errors import ReferralRefused
from ..models import EventType, Referral, ReferralStatus, RewardProfile
from ._shared import GOLDBOOK_SOURCE
from .intake import activity_record

logger = logging.getLogger(__name__)


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
    same_ip = bool(ip) and _referrer_seen_at(profile.user_id, ip or "")
    try:
        with transaction.atomic():
            referral = Referral.objects.create(
                referrer_id=profile.user_id, referred_id=user_id, code=code, ip=ip or None, same_ip=same_ip
            )
    except IntegrityError:
        return Referral.objects.get(referred_id=user_id)
    logger.info("Referral #%s: user #%s referred #%s (same_ip=%s)", referral.pk, profile.user_id, user_id, same_ip)
    return referral


def _referrer_seen_at(referrer_id: int, ip: str) -> bool:
    """Whether the referrer has used this IP: web sign-ins (`KnownAddress`), API sessions, or
    their own referral. Sock accounts made in a browser are caught as well as API ones."""
    return (
        KnownAddress.objects.filter(user_id=referrer_id, ip=ip).exists()
        or ApiSession.objects.filter(user_id=referrer_id, ip=ip).exists()
        or Referral.objects.filter(referred_id=referrer_id, ip=ip).exists()
    )


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
        if wallet_address and wallet_address.lower() in wallet_addresses(referral.referrer_id):
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
