"""Reads for payments: packages and prices, payments of a user, what the poller must look at."""

from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_DOWN, Decimal

from django.conf import settings
from django.db.models import QuerySet

from wallet.selectors import default_currency, songs_for

from .models import (
    OPEN_STATUSES,
    BonusTier,
    CreditPackage,
    LinkedWallet,
    Payment,
    PaymentStatus,
    PricingConfig,
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


def cny_per_usd() -> Decimal:
    config = PricingConfig.objects.filter(pk=1).first()
    return config.cny_per_usd if config else Decimal(settings.PAYMENTS_DEFAULT_CNY_PER_USD)


def usd_to_cny(cents: int, rate: Decimal | None = None) -> Decimal:
    rate = rate if rate is not None else cny_per_usd()
    return (Decimal(cents) / 100 * rate).quantize(CENT, rounding=ROUND_DOWN)


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
    cny_amount: Decimal
    base_credits: Decimal
    bonus_credits: Decimal
    total_credits: Decimal
    estimated_songs: int

    @property
    def bonus_percent(self) -> int:
        return int(self.bonus_credits * 100 / self.base_credits) if self.base_credits else 0


def package_rows(*, style: str | None = None) -> list[PackageRow]:
    currency = default_currency()
    rate = cny_per_usd()
    qs = active_packages()
    if style:
        qs = qs.filter(style=style)
    return [
        PackageRow(
            package=p,
            usd_amount=cents_to_usd(p.usd_cents),
            cny_amount=usd_to_cny(p.usd_cents, rate),
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
