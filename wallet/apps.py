from django.apps import AppConfig


class WalletConfig(AppConfig):
    name = "wallet"
    verbose_name = "Wallet (ledger)"

    def ready(self) -> None:
        from core.events import Event, subscribe

        from . import handlers

        subscribe(Event.BALANCE_CHANGED, handlers.push_balances, name="wallet.push_balances")
