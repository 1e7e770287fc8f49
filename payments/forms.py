from decimal import Decimal

from django import forms
from django.db import models
from django.utils.translation import gettext_lazy as _

from . import selectors


class PayMethod(models.TextChoices):
    """How the recharge page's buyer pays (the form's `method`)."""

    COINPAYMENTS = "coinpayments", "Crypto via CoinPayments"
    E9TH = "e9th", "E9th stablecoin"
    DEMO = "demo", "Demo"


class CheckoutForm(forms.Form):
    package_id = forms.IntegerField(required=False, min_value=1)
    custom_amount = forms.DecimalField(required=False, max_digits=12, decimal_places=2, min_value=Decimal("0.01"))
    method = forms.TypedChoiceField(choices=PayMethod.choices, coerce=PayMethod)
    coin = forms.CharField(required=False, max_length=32)

    def clean(self) -> dict[str, object]:
        data = super().clean() or {}
        if data.get("method") == PayMethod.COINPAYMENTS and data.get("coin") not in selectors.accepted_coins():
            self.add_error("coin", "Choose one of the listed coins.")
        if data.get("package_id") is None and data.get("custom_amount") is None:
            raise forms.ValidationError(_("Choose a package or enter an amount."))
        return data


class ChainClaimForm(forms.Form):
    package_id = forms.IntegerField(min_value=1)
    tx_hash = forms.CharField(max_length=100, label=_("Transaction hash"))


class WalletLinkForm(forms.Form):
    wallet_address = forms.CharField(max_length=100, label=_("Wallet address"))
    signature = forms.CharField(max_length=200, label=_("Signature"), widget=forms.Textarea(attrs={"rows": 3}))
