from django.apps import AppConfig


class PaymentsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "payments"
    verbose_name = "Payments"

    def ready(self) -> None:
        from core import registry
        from core.events import Event, subscribe

        from . import (
            checks,  # noqa: F401  (registers the system checks)
            dashboard,
            demo,
            handlers,
            selectors,
        )
        from .models import LegacyConversion, Payment

        subscribe(Event.PURCHASE_COMPLETED, handlers.send_purchase_receipt, name="payments.send_purchase_receipt")
        registry.register_dashboard_panels("payments", dashboard.panels)
        registry.register_demo_data("payments", demo.seed)
        registry.register_history_details(Payment, Payment.history_fields)
        registry.register_history_details(LegacyConversion, LegacyConversion.history_fields)
        # rewards holds a referral for review when the payout would go to the referrer's own wallet
        registry.register_wallet_addresses("payments", selectors.wallet_addresses)
