"""The package and bonus-tier forms of the admin: dollars and credits as staff read them, checked
against the site's rules, and the sentences the "Preview" button shows before anything is saved.

The rules (the same ones a member's custom purchase follows, payments.services.quotes):
- A package's price lies within the custom-amount range (PAYMENTS_CUSTOM_MIN_USD to
  PAYMENTS_CUSTOM_MAX_USD) unless "price outside the custom range" is ticked.
- Its base credits are exactly what the price buys as a custom amount (PAYMENTS_CREDITS_PER_USD
  per dollar): never fewer (a package worse than a custom amount is a typing mistake), never
  more (extra credits are a bonus and go, visibly, in bonus credits). Left empty, they are filled in.
- A bonus tier starts at a price some custom amount can reach (at most the custom maximum).
"""

from decimal import ROUND_DOWN, Decimal
from typing import Any

from django import forms
from django.conf import settings
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from wallet.money_fields import USD, MoneyField, amount_text, credits, usd

from . import selectors
from .models import BonusTier, CreditPackage


def custom_range_cents() -> tuple[int, int]:
    return USD.to_minor(Decimal(settings.PAYMENTS_CUSTOM_MIN_USD)), USD.to_minor(
        Decimal(settings.PAYMENTS_CUSTOM_MAX_USD)
    )


def _usd(cents: int) -> str:
    return amount_text(USD, cents)


def _credits(minor: int) -> str:
    return amount_text(credits(), minor)


class CreditPackageForm(forms.ModelForm):
    usd_cents = MoneyField(
        currency=usd,
        min_value=Decimal("0.01"),
        label=_("Price (USD)"),
        help_text=_("In dollars: 30.00 (or 30) is thirty dollars."),
    )
    base_credits = MoneyField(
        required=False,
        label=_("Base credits"),
        help_text=_(
            "Exactly what the price buys as a custom amount (the site's credits per dollar). "
            "Leave empty to have it filled in; put anything more in bonus credits."
        ),
    )
    bonus_credits = MoneyField(
        required=False,
        label=_("Bonus credits"),
        help_text=_(
            "Credits on top of the base, shown to members as the bonus. A bonus waits for a second staff member."
        ),
    )

    class Meta:
        model = CreditPackage
        fields = (
            "name",
            "usd_cents",
            "price_outside_custom_range",
            "base_credits",
            "bonus_credits",
            "badge",
            "style",
            "sort_order",
            "active",
        )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("bonus_credits") is None:
            data["bonus_credits"] = 0
        price = data.get("usd_cents")
        if price is None:
            return data
        low, high = custom_range_cents()
        if not data.get("price_outside_custom_range") and not low <= price <= high:
            message = gettext(
                "Members may buy custom amounts from %(min)s to %(max)s; %(price)s is outside that range. "
                'Enter the price in dollars, or tick "price outside the custom range" if you mean it.'
            ) % {"min": _usd(low), "max": _usd(high), "price": _usd(price)}
            self.add_error("usd_cents", message)
        equivalent = selectors.credits_for_usd_cents(price)
        if equivalent <= 0:
            self.add_error("usd_cents", gettext("This price buys no credits at the site's rate."))
        elif data.get("base_credits") is None:
            data["base_credits"] = equivalent
        elif data["base_credits"] != equivalent:
            message = gettext(
                "%(price)s buys %(credits)s as a custom amount, so the base credits are %(credits)s "
                "(leave the field empty to fill it in). Put anything more in bonus credits."
            ) % {"price": _usd(price), "credits": _credits(equivalent)}
            self.add_error("base_credits", message)
        return data


def package_preview(package: CreditPackage) -> list[str]:
    """ "Members pay $30.00, receive 40.00 Credits, 10.00 Credits of them bonus." and what is
    unusual about it."""
    lines = [
        gettext("Members pay %(price)s, receive %(total)s, %(bonus)s of them bonus.")
        % {
            "price": _usd(package.usd_cents),
            "total": _credits(package.total_credits),
            "bonus": _credits(package.bonus_credits),
        }
    ]
    low, high = custom_range_cents()
    if not low <= package.usd_cents <= high:
        lines.append(
            gettext("The price is outside the custom range (%(min)s to %(max)s).")
            % {"min": _usd(low), "max": _usd(high)}
        )
    if not package.active:
        lines.append(gettext("The package is inactive: members do not see it."))
    return lines


class BonusTierForm(forms.ModelForm):
    min_usd_cents = MoneyField(
        currency=usd,
        min_value=Decimal("0.01"),
        label=_("From (USD)"),
        help_text=_("Custom amounts of at least this many dollars get the bonus."),
    )

    class Meta:
        model = BonusTier
        fields = ("min_usd_cents", "percent")

    def clean_min_usd_cents(self) -> int:
        cents: int = self.cleaned_data["min_usd_cents"]
        _low, high = custom_range_cents()
        if cents > high:
            message = gettext("No custom amount reaches %(threshold)s: the largest is %(max)s.")
            raise forms.ValidationError(message % {"threshold": _usd(cents), "max": _usd(high)})
        return cents


def tier_preview(tier: BonusTier) -> list[str]:
    base = selectors.credits_for_usd_cents(tier.min_usd_cents)
    bonus = int((Decimal(base) * tier.percent / 100).to_integral_value(rounding=ROUND_DOWN))
    return [
        gettext("A custom purchase of %(price)s receives %(total)s, %(bonus)s of them bonus (%(percent)s%%).")
        % {
            "price": _usd(tier.min_usd_cents),
            "total": _credits(base + bonus),
            "bonus": _credits(bonus),
            "percent": f"{Decimal(tier.percent).normalize():f}",
        }
    ]
