"""The free tier: every account's free downloads, and one more for each ad watched to the end.

The allowance row is the lock for everything that spends or grants free downloads (ads here, job
start and refunds in `jobs`); it is taken before any ledger row, as everywhere in downloads.
"""

import logging
import secrets
from datetime import datetime

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import User

from .. import ads, selectors
from ..errors import AdDailyLimit, AdsDisabled, AdTokenExpired, AdTokenInvalid, AdTokenUsed
from ..models import AdCompletion, FreeAllowance

logger = logging.getLogger(__name__)

AD_CLOCK_SKEW = 60


def lock_allowance(user_id: int) -> FreeAllowance:
    """The user's allowance row, created on first use, locked (callers are inside atomic)."""
    FreeAllowance.objects.get_or_create(user_id=user_id, defaults={"remaining": settings.DOWNLOADS_FREE_PER_ACCOUNT})
    return FreeAllowance.objects.select_for_update(no_key=True).get(user_id=user_id)


def refund_free(user_id: int, count: int) -> None:
    """Give back free downloads a job reserved but did not use (inside the caller's atomic)."""
    allowance = lock_allowance(user_id)
    allowance.remaining += count
    allowance.used_total = max(0, allowance.used_total - count)
    allowance.save(update_fields=["remaining", "used_total", "updated_at"])


def _verified_claims(*, user: User, token: str, now: datetime) -> ads.AdClaims:
    secret = settings.ADS_HMAC_SECRET
    if not secret:
        raise AdsDisabled(_("Ads are not available on this site."))
    try:
        claims = ads.decode(token=token, secret=secret)
    except ads.MalformedToken as exc:
        raise AdTokenInvalid(str(exc)) from None
    if not secrets.compare_digest(claims.user_ref, selectors.ad_user_ref(user_id=user.pk)):
        raise AdTokenInvalid(_("The ad token was issued for another account."))
    age = now.timestamp() - claims.issued_at
    if age > settings.DOWNLOADS_AD_TOKEN_MAX_AGE or age < -AD_CLOCK_SKEW:
        raise AdTokenExpired(_("The ad token has expired. Watch another ad for a new one."))
    return claims


def ad_complete(*, user: User, token: str, now: datetime | None = None) -> FreeAllowance:
    """Redeem an ad-completion token for one more free download.

    Steps: verify the HMAC and shape; check the token names this user and is fresh; under the
    allowance row lock, refuse a used nonce or a sixth grant today; record the nonce, add one.
    Raises AdsDisabled, AdTokenInvalid, AdTokenExpired, AdTokenUsed, AdDailyLimit.
    """
    now = now or timezone.now()
    claims = _verified_claims(user=user, token=token, now=now)
    try:
        with transaction.atomic(durable=True):
            allowance = lock_allowance(user.pk)
            if AdCompletion.objects.filter(nonce=claims.nonce).exists():
                raise AdTokenUsed(_("This ad token was already redeemed."))
            day_start = now.replace(hour=0, minute=0, second=0, microsecond=0)
            if (
                AdCompletion.objects.filter(user_id=user.pk, created_at__gte=day_start).count()
                >= settings.DOWNLOADS_AD_GRANTS_PER_DAY
            ):
                raise AdDailyLimit(
                    f"You have already earned {settings.DOWNLOADS_AD_GRANTS_PER_DAY} free downloads from ads today. "
                    "Come back tomorrow.",
                )
            AdCompletion.objects.create(
                nonce=claims.nonce,
                user_id=user.pk,
                issued_at=datetime.fromtimestamp(claims.issued_at, tz=timezone.get_current_timezone()),
            )
            allowance.remaining += 1
            allowance.granted_by_ads += 1
            allowance.save(update_fields=["remaining", "granted_by_ads", "updated_at"])
    except IntegrityError:
        # The same nonce redeemed at the same moment from another account's lock scope.
        raise AdTokenUsed(_("This ad token was already redeemed.")) from None
    logger.info("User #%s: free download granted for an ad (%s left)", user.pk, allowance.remaining)
    return allowance
