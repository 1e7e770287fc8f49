from decimal import Decimal

from django import template
from django.conf import settings

register = template.Library()


@register.filter
def credits(minor: int | None) -> Decimal:
    """Minor units of the site currency → Decimal with its places (35 → 0.35)."""
    places = settings.GOLDBOOK_CURRENCY_DECIMALS
    return Decimal(minor or 0).scaleb(-places).quantize(Decimal(1).scaleb(-places))
