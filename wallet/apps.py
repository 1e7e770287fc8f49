from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class WalletConfig(AppConfig):
    name = "wallet"
    verbose_name = _("Wallet (ledger)")

    def ready(self) -> None:
        from core.events import Event, subscribe

        from . import handlers

        subscribe(Event.BALANCE_CHANGED, handlers.push_balances, name="wallet.push_balances")
