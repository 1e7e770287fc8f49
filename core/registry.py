"""What the site app composes from the others, declared by each app in its `AppConfig.ready()`.

Search for `register_dashboard_panels`, `register_history_details` or `register_demo_data` to
find every contributor. The site app (`portal`) reads these; no app below it imports it.

- A dashboard panel provider returns the member's panels, each with a template and its context.
- A history detail provider adds fields to the history rows of transfers caused by one model
  (`package_name` on a purchase, `songs_downloaded` on a download…).
- Wallet addresses: the crypto wallets known for a member (payments links them), for checks in
  other apps (rewards holds a referral paid to the referrer's own wallet for review).
- Demo data seeds what `manage.py seed_demo` shows on the embedded default; seeds run in
  registration order, i.e. INSTALLED_APPS order, so an app's seed may rely on those below it.
"""

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from django.core.management.base import OutputWrapper
from django.db import models
from django.http import HttpRequest


@dataclass(frozen=True)
class DashboardPanel:
    key: str
    order: int  # lower first
    template: str
    context: Mapping[str, Any] = field(default_factory=dict)


PanelProvider = Callable[[HttpRequest], list[DashboardPanel]]
# (cause, transfer) -> extra fields for that transfer's history row
HistoryDetail = Callable[[Any, Any], Mapping[str, Any]]


class DemoSeed(Protocol):
    def __call__(self, *, stdout: OutputWrapper) -> None: ...


_panels: dict[str, PanelProvider] = {}
_history: dict[type[models.Model], HistoryDetail] = {}
# Relations a model's history detail reads (`Award.rule`), prefetched for a whole page of rows.
_history_related: dict[type[models.Model], tuple[str, ...]] = {}
_demo: dict[str, DemoSeed] = {}
WalletAddresses = Callable[[int], Iterable[str]]
_wallet_addresses: dict[str, WalletAddresses] = {}


def register_dashboard_panels(app_label: str, provider: PanelProvider) -> None:
    _panels[app_label] = provider


def register_history_details(
    model: type[models.Model], detail: HistoryDetail, *, related: tuple[str, ...] = ()
) -> None:
    """`related`: the forward relations `detail` reads from the cause (`("rule",)`), which the
    history loads with the causes themselves (select_related) instead of one query per row."""
    _history[model] = detail
    _history_related[model] = related


def register_demo_data(app_label: str, seed: DemoSeed) -> None:
    _demo[app_label] = seed


def panel_providers() -> list[tuple[str, PanelProvider]]:
    return list(_panels.items())


def history_detail_for(model: type[models.Model]) -> HistoryDetail | None:
    return _history.get(model)


def history_related_for(model: type[models.Model]) -> tuple[str, ...]:
    return _history_related.get(model, ())


def history_models() -> list[type[models.Model]]:
    return list(_history)


def demo_seeds() -> list[tuple[str, DemoSeed]]:
    return list(_demo.items())


def register_wallet_addresses(app_label: str, provider: WalletAddresses) -> None:
    _wallet_addresses[app_label] = provider


def wallet_addresses(user_id: int) -> set[str]:
    """Every wallet address any app knows for the member, lower-cased."""
    return {a.lower() for provider in _wallet_addresses.values() for a in provider(user_id) if a}
