"""Converting holders of the old time-based plans to credits, once per row of the old table."""

from decimal import Decimal

from accounts.models import User
from wallet import services as wallet
from wallet.models import SystemAccount, TransferKind
from wallet.selectors import default_currency

from ..models import LegacyConversion
from ._state import durable

LEGACY_PLANS: dict[str, tuple[str, Decimal]] = {
    "quick download": ("Quick Download", Decimal("5")),
    "quick_download": ("Quick Download", Decimal("5")),
    "pro access": ("Pro Access", Decimal("50")),
    "pro_access": ("Pro Access", Decimal("50")),
}


def legacy_plan_convert(*, user: User, plan: str, row_key: str) -> tuple[LegacyConversion, bool]:
    """Credit a holder of an old time-based plan once (Quick Download → 5, Pro Access → 50).
    Returns (conversion, created); a rerun with the same row key credits nothing."""
    label, credits = LEGACY_PLANS[plan.strip().lower()]
    currency = default_currency()
    amount = currency.to_minor(credits.quantize(currency.quantum))

    def run() -> tuple[LegacyConversion, bool]:
        conversion, created = LegacyConversion.objects.get_or_create(
            row_key=row_key, defaults={"user": user, "plan": label, "credits": amount}
        )
        wallet.transfer_post(
            from_account=wallet.system_account(name=SystemAccount.ISSUANCE),
            to_account=wallet.user_account(user_id=conversion.user_id),
            amount=conversion.credits,
            kind=TransferKind.CONVERSION,
            idempotency_key=f"legacy-plan:{conversion.pk}",
            memo=f"{label} plan converted to credits",
            cause=conversion,
        )
        return conversion, created

    return durable(run)
