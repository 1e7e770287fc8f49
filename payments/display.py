"""Amounts paid in US dollars as a member reads them: USD, then the equivalent in their display
currency at the latest rate staff set, with that rate's date. No rate, USD alone."""

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from django.http import HttpRequest
from django.utils import formats, timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.translation import get_language
from django.utils.translation import gettext as _

from .models import ExchangeRate
from .selectors import convert_usd, display_rate

SYMBOLS = {"USD": "US$", "CNY": "¥", "EUR": "€"}


def display_currency(request: HttpRequest | None) -> str:
    """The member's choice; a visitor reading Chinese sees yuan, anyone else dollars only."""
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        return str(user.display_currency or "USD")
    return "CNY" if (get_language() or "").startswith("zh") else "USD"


def rate_for(request: HttpRequest | None, on: date | None = None) -> ExchangeRate | None:
    """The rate for the request's display currency in force on `on` (today), looked up once per
    request and day however many amounts the page shows."""
    cache: dict[tuple[str, date | None], ExchangeRate | None] = getattr(request, "_goldbook_rates", {})
    key = (display_currency(request), on)
    if key not in cache:
        cache[key] = display_rate(currency=key[0], on=on)
        if request is not None:
            request._goldbook_rates = cache  # type: ignore[attr-defined]
    return cache[key]


def money(amount: Decimal, currency: str) -> str:
    return f"{SYMBOLS.get(currency, currency + ' ')}{amount:,.2f}"


def equivalent(amount: Decimal, rate: ExchangeRate) -> str:
    """ "≈ ¥179.63, rate of 2 Dec 2026" (the date in the active language's format)."""
    return _("≈ %(amount)s, rate of %(date)s") % {
        "amount": money(convert_usd(amount, rate), rate.currency),
        "date": formats.date_format(rate.effective_date, "DATE_FORMAT"),
    }


def usd_html(request: HttpRequest | None, amount: Any, *, on: datetime | None = None) -> SafeString:
    """The amount in USD and, with a rate, its equivalent; `on`: at the rate of that moment
    (a receipt shows the rate of its payment's day), else today's."""
    value = Decimal(str(amount or 0))
    shown = format_html('<span class="usd">{}</span>', money(value, "USD"))
    rate = rate_for(request, timezone.localdate(on) if on is not None else None)
    if rate is None:
        return shown
    return format_html('{} <span class="fx muted small" data-testid="fx">({})</span>', shown, equivalent(value, rate))
