"""The demo payment method: a fake provider for development sites, so the whole purchase flow
(checkout page, completion, receipt, referral payout) can be tried without real money."""

import secrets
from datetime import timedelta

from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import User

from .. import selectors
from ..errors import InvalidPurchase, MethodUnavailable
from ..models import Payment, Provider
from ._state import durable, lock_payment
from .completion import complete_locked
from .quotes import Quote, check_limits, payment_create

DEMO_TTL = timedelta(hours=1)


def demo_enabled() -> bool:
    """The demo method exists only on a DEBUG site with no provider keys at all."""
    keys = (
        settings.COINPAYMENTS_PUBLIC_KEY,
        settings.COINPAYMENTS_PRIVATE_KEY,
        settings.COINPAYMENTS_MERCHANT_ID,
        settings.COINPAYMENTS_IPN_SECRET,
        settings.E9TH_RPC_URL,
    )
    return bool(settings.DEBUG) and not any(keys)


def demo_checkout(*, user: User, quote: Quote) -> Payment:
    if not demo_enabled():
        raise MethodUnavailable(_("The demo payment method is only available on a development site."))
    now = timezone.now()
    check_limits(user_id=user.pk, usd_cents=quote.usd_cents, now=now)
    return payment_create(
        user=user,
        quote=quote,
        provider=Provider.DEMO,
        reference="demo-" + secrets.token_hex(12),
        coin="DEMO",
        coin_amount=str(selectors.cents_to_usd(quote.usd_cents)),
        address="DEMO-NO-REAL-MONEY",
        expires_at=now + DEMO_TTL,
    )


def demo_pay(*, payment_id: int, user: User) -> Payment:
    if not demo_enabled():
        raise MethodUnavailable(_("The demo payment method is only available on a development site."))

    def run() -> Payment:
        payment = lock_payment(payment_id)
        if payment.user_id != user.pk or payment.provider != Provider.DEMO:
            raise InvalidPurchase(_("This is not one of your demo payments."))
        complete_locked(payment, detail="Paid with the demo method (no real money).")
        return payment

    return durable(run)
