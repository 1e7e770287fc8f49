from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "Accounts"

    def ready(self) -> None:
        from core import registry
        from core.events import Event, subscribe

        from . import demo, handlers

        subscribe(Event.PIN_LOCKED, handlers.send_lockout_notice, name="accounts.send_lockout_notice")
        subscribe(Event.NEW_SIGN_IN_ADDRESS, handlers.send_new_address_notice, name="accounts.send_new_address_notice")
        registry.register_demo_data("accounts", demo.seed)
