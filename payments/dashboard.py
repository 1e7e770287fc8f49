"""Panels payments contributes to the dashboard: the linked E9th wallet and recent payments."""

from django.http import HttpRequest

from core.registry import DashboardPanel
from wallet.selectors import default_currency

from . import selectors


def panels(request: HttpRequest) -> list[DashboardPanel]:
    user = request.user
    if not user.is_authenticated:
        return []
    currency = default_currency()
    payments = selectors.recent_payments(user_id=user.pk, limit=5)
    return [
        DashboardPanel(
            key="e9th_wallet",
            order=40,
            template="payments/_panel_e9th_wallet.html",
            context={"linked_wallet": selectors.linked_wallet(user_id=user.pk)},
        ),
        DashboardPanel(
            key="payments",
            order=45,
            template="payments/_panel_recent_payments.html",
            context={
                "recent_payments": [(p, currency.to_decimal(p.total_credits)) for p in payments],
            },
        ),
    ]
