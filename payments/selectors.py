"""Reads for payments: packages and prices, payments of a user, what the poller must look at."""

from dataclasses import dataclass
from datetime import date, datetime
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal

from django.conf import settings
from django.db.models import QuerySet
from django.utils import timezone

from wallet.selectors import default_currency, songs_for

from .models import (
    OPEN_STATUSES,
    BonusTier,
    CreditPackage,
    ExchangeRate,
    LinkedWallet,
    Payment,
    PaymentStatus,
    Provider,
)

CENT = Decimal("0.01")


def cents_to_usd(cents: int) -> Decimal:
    return (Decimal(cents) / 100).quantize(CENT)


def active_packages() -> QuerySet[CreditPackage]:
    return CreditPackage.objects.filter(active=True).order_by("sort_order", "id")


def accepted_coins() -> list[str]:
    """The coins checkout offers and accepts. CoinPayments' test coins (COINPAYMENTS_TEST_COINS,
    worth nothing) only while DEBUG is on or with COINPAYMENTS_ACCEPT_TEST_COINS_FOR_REAL_MONEY,
    even when the operator lists one in COINPAYMENTS_ACCEPTED_COINS."""
    test_coins = list(settings.COINPAYMENTS_TEST_COINS)
    if settings.DEBUG or settings.COINPAYMENTS_ACCEPT_TEST_COINS_FOR_REAL_MONEY:
        return list(dict.fromkeys([*settings.COINPAYMENTS_ACCEPTED_COINS, *test_coins]))
    return [coin for coin in settings.COINPAYMENTS_ACCEPTED_COINS if coin not in test_coins]


def display_rate(*, currency: str, on: date | None = None) -> ExchangeRate | None:
    """The latest rate staff set for `currency` in force on `on` (today in the site's time
    zone); None for USD or when staff set none (pages then show USD only, never a guess)."""
    if currency == "USD":
        return None
    day = on or timezone.localdate()
    return ExchangeRate.objects.filter(currency=currency, effective_date__lte=day).order_by("-effective_date").first()


def convert_usd(amount: Decimal, rate: ExchangeRate) -> Decimal:
    return (amount * rate.rate).quantize(CENT, rounding=ROUND_HALF_UP)


def credits_for_usd_cents(cents: int) -> int:
    """Base credits (minor units) for a USD amount at PAYMENTS_CREDITS_PER_USD."""
    currency = default_currency()
    credits = (Decimal(cents) / 100 * Decimal(settings.PAYMENTS_CREDITS_PER_USD)).quantize(
        currency.quantum, rounding=ROUND_DOWN
    )
    return currency.to_minor(credits)


def bonus_percent_for(cents: int) -> Decimal:
    tier = BonusTier.objects.filter(min_usd_cents__lte=cents).order_by("-min_usd_cents").first()
    return tier.percent if tier else Decimal(0)


def estimated_songs(total_credits_minor: int) -> int:
    """Songs a package pays for at the site's song price (GOLDBOOK_SONG_PRICE), rounded down."""
    return songs_for(default_currency().to_decimal(total_credits_minor))


@dataclass(frozen=True)
class PackageRow:
    """A package as every page and the API show it."""

    package: CreditPackage
    usd_amount: Decimal
    base_credits: Decimal
    bonus_credits: Decimal
    total_credits: Decimal
    estimated_songs: int

    @property
    def bonus_percent(self) -> int:
        return int(self.bonus_credits * 100 / self.base_credits) if self.base_credits else 0


def package_rows(*, style: str | None = None) -> list[PackageRow]:
    currency = default_currency()
    qs = active_packages()
    if style:
        qs = qs.filter(style=style)
    return [
        PackageRow(
            package=p,
            usd_amount=cents_to_usd(p.usd_cents),
            base_credits=currency.to_decimal(p.base_credits),
            bonus_credits=currency.to_decimal(p.bonus_credits),
            total_credits=currency.to_decimal(p.total_credits),
            estimated_songs=estimated_songs(p.total_credits),
        )
        for p in qs
    ]


def payment_for_owner(*, payment_id: int, user_id: int) -> Payment | None:
    return Payment.objects.filter(pk=payment_id, user_id=user_id).first()


def recent_payments(*, user_id: int, limit: int = 10) -> list[Payment]:
    return list(Payment.objects.filter(user_id=user_id).order_by("-created_at", "-id")[:limit])


def linked_wallet(*, user_id: int) -> LinkedWallet | None:
    return LinkedWallet.objects.filter(user_id=user_id).first()


def wallet_addresses(user_id: int) -> list[str]:
    """The E9th addresses a user is known by (rewards' same-wallet referral check)."""
    linked = list(LinkedWallet.objects.filter(user_id=user_id).values_list("address", flat=True))
    paid_from = (
        Payment.objects.filter(user_id=user_id).exclude(wallet_address="").values_list("wallet_address", flat=True)
    )
    return sorted({*linked, *paid_from})


def open_coinpayments_references() -> list[tuple[int, str]]:
    """(payment id, txn_id) of CoinPayments payments the provider may still change."""
    rows = (
        Payment.objects.filter(provider=Provider.COINPAYMENTS, status__in=OPEN_STATUSES, reference__isnull=False)
        .order_by("id")
        .values_list("id", "reference")
    )
    return [(pk, ref) for pk, ref in rows if ref is not None]


def open_chain_payment_ids() -> list[int]:
    return list(
        Payment.objects.filter(provider=Provider.E9TH, status__in=[PaymentStatus.PENDING, PaymentStatus.CONFIRMING])
        .order_by("id")
        .values_list("id", flat=True)
    )


def overdue_payment_ids(*, now: datetime) -> list[int]:
    """Payments nobody paid before their deadline (funds seen keep them open: `confirming`)."""
    return list(
        Payment.objects.filter(
            provider__in=[Provider.COINPAYMENTS, Provider.DEMO],
            status=PaymentStatus.PENDING,
            expires_at__lt=now,
        )
        .order_by("id")
        .values_list("id", flat=True)
    )


@dataclass(frozen=True)
class PaymentWindow:
    """How long the buyer has left to pay: seconds left of the window (for the time bar)."""

    expires_at: datetime
    remaining_seconds: int
    total_seconds: int

    @property
    def percent_left(self) -> int:
        return round(100 * self.remaining_seconds / self.total_seconds) if self.total_seconds else 0


def payment_window(payment: Payment, *, now: datetime) -> PaymentWindow | None:
    if payment.expires_at is None:
        return None
    total = max(int((payment.expires_at - payment.created_at).total_seconds()), 1)
    remaining = min(max(int((payment.expires_at - now).total_seconds()), 0), total)
    return PaymentWindow(expires_at=payment.expires_at, remaining_seconds=remaining, total_seconds=total)
