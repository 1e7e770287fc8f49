from typing import Any

from django.conf import settings
from django.core import checks


@checks.register(checks.Tags.security, deploy=True)
def warn_test_coins_accepted(app_configs: Any, **kwargs: Any) -> list[checks.CheckMessage]:
    """CoinPayments' test coins (LTCT) are worth nothing: a deployment that accepts them sells
    credits for free. `check --deploy` says so while the opt-in is on."""
    if settings.COINPAYMENTS_ACCEPT_TEST_COINS_FOR_REAL_MONEY:
        return [
            checks.Warning(
                "COINPAYMENTS_ACCEPT_TEST_COINS_FOR_REAL_MONEY is on: checkout accepts "
                f"{', '.join(settings.COINPAYMENTS_TEST_COINS)}, which are worth nothing.",
                hint="Unset COINPAYMENTS_ACCEPT_TEST_COINS_FOR_REAL_MONEY outside a test deployment.",
                id="payments.W001",
            )
        ]
    return []
