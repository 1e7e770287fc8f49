"""Prices and limits: what a package or a custom amount buys, and how much a member may buy."""

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_DOWN, Decimal
from typing import Any

from django.conf import settings
from django.db.models import Sum
from django.utils.translation import gettext as _

from accounts.models import User

from .. import selectors
from ..errors import AmountOutOfRange, InvalidPurchase, PackageNotFound, PurchaseLimitReached
from ..models import CreditPackage, Payment, PaymentStatus, Provider

S = PaymentStatus
COUNTED_STATUSES = [S.PENDING, S.CONFIRMING, S.COMPLETED, S.UNDERPAID, S.NEEDS_REVIEW]


@dataclass(frozen=True)
class Quote:
    package: CreditPackage | None
    name: str
    usd_cents: int
    base_credits: int
    bonus_credits: int


def _usd_to_cents(amount: Decimal) -> int:
    if not isinstance(amount, Decimal):
        raise TypeError("USD amounts are Decimal, never float.")
    if not amount.is_finite() or amount != amount.quantize(Decimal("0.01")):
        raise AmountOutOfRange(_("Enter a dollar amount with at most two decimal places."))
    return int(amount * 100)


def quote(*, package_id: int | None = None, custom_amount_usd: Decimal | None = None) -> Quote:
    """Price a package or a custom amount (with the bulk bonus tier it reaches).

    Raises InvalidPurchase (neither or both given), PackageNotFound, AmountOutOfRange.
    """
    if (package_id is None) == (custom_amount_usd is None):
        raise InvalidPurchase(_("Choose a package or enter a custom amount (one of the two)."))
    if package_id is not None:
        package = CreditPackage.objects.filter(pk=package_id, active=True).first()
        if package is None:
            raise PackageNotFound(_("There is no active package #%(id)s.") % {"id": package_id})
        return package_quote(package)
    assert custom_amount_usd is not None
    cents = _usd_to_cents(custom_amount_usd)
    low = _usd_to_cents(Decimal(settings.PAYMENTS_CUSTOM_MIN_USD))
    high = _usd_to_cents(Decimal(settings.PAYMENTS_CUSTOM_MAX_USD))
    if not low <= cents <= high:
        raise AmountOutOfRange(
            f"Custom amounts run from ${selectors.cents_to_usd(low)} to ${selectors.cents_to_usd(high)}.",
            min_usd=selectors.cents_to_usd(low),
            max_usd=selectors.cents_to_usd(high),
        )
    base = selectors.credits_for_usd_cents(cents)
    bonus = int((Decimal(base) * selectors.bonus_percent_for(cents) / 100).to_integral_value(rounding=ROUND_DOWN))
    return Quote(None, "Custom amount", cents, base, bonus)


def check_limits(*, user_id: int, usd_cents: int, now: datetime) -> None:
    """Per-user purchase limits over the last day and the last 30 days (rolling windows)."""
    for label, window, setting in (
        ("daily", timedelta(days=1), settings.PAYMENTS_DAILY_LIMIT_USD),
        ("monthly", timedelta(days=30), settings.PAYMENTS_MONTHLY_LIMIT_USD),
    ):
        limit = _usd_to_cents(Decimal(setting))
        spent = (
            Payment.objects.filter(user_id=user_id, status__in=COUNTED_STATUSES, created_at__gte=now - window)
            .exclude(provider=Provider.DEMO)
            .aggregate(total=Sum("usd_cents"))["total"]
            or 0
        )
        if spent + usd_cents > limit:
            left = max(0, limit - spent)
            raise PurchaseLimitReached(
                f"This purchase would pass your {label} limit of ${selectors.cents_to_usd(limit)}; "
                f"you can buy up to ${selectors.cents_to_usd(left)} more right now.",
                limit_usd=selectors.cents_to_usd(limit),
                remaining_usd=selectors.cents_to_usd(left),
            )


def package_quote(package: CreditPackage) -> Quote:
    return Quote(package, package.name, package.usd_cents, package.base_credits, package.bonus_credits)


def payment_quote(payment: Payment) -> Quote:
    """What an existing payment was priced at (a chain claim re-evaluated later)."""
    return Quote(payment.package, payment.package_name, payment.usd_cents, payment.base_credits, payment.bonus_credits)


def payment_create(*, user: User, quote: Quote, provider: Provider, **fields: Any) -> Payment:
    """A new pending payment at the quoted price, with the provider's own `fields`."""
    return Payment.objects.create(
        user=user,
        package=quote.package,
        package_name=quote.name,
        usd_cents=quote.usd_cents,
        base_credits=quote.base_credits,
        bonus_credits=quote.bonus_credits,
        provider=provider,
        **fields,
    )
