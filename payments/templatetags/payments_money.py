"""`{% usd amount %}`: an amount paid in US dollars with its equivalent in the member's display
currency and the rate's date, "US$25.00 (≈ ¥180.00, rate of 2 Dec 2026)"; USD alone when staff
set no rate (see payments.display)."""

from datetime import datetime
from typing import Any

from django import template
from django.utils.safestring import SafeString

from payments.display import usd_html

register = template.Library()


@register.simple_tag(takes_context=True)
def usd(context: template.Context, amount: Any, on: datetime | None = None) -> SafeString:
    """`{% usd payment.usd_amount %}`; `on=payment.created_at` for the rate of that day."""
    return usd_html(context.get("request"), amount, on=on)
