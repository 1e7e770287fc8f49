from django.apps import AppConfig


class PaymentsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "payments"
    verbose_name = "Payments"

    def ready(self) -> None:
        from core.events import Event, subscribe

        from . import handlers

        subscribe(Event.PURCHASE_COMPLETED, handlers.send_purchase_receipt, name="payments.send_purchase_receipt")
