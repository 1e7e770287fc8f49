from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = _("Accounts")

    def ready(self) -> None:
        from core import registry
        from core.events import Event, subscribe

        from . import demo, handlers

        subscribe(Event.PIN_LOCKED, handlers.send_lockout_notice, name="accounts.send_lockout_notice")
        subscribe(Event.NEW_SIGN_IN_ADDRESS, handlers.send_new_address_notice, name="accounts.send_new_address_notice")
        registry.register_demo_data("accounts", demo.seed)
