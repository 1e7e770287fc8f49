from decimal import Decimal

from django import forms
from django.conf import settings
from django.utils.translation import gettext_lazy as _


class RedeemForm(forms.Form):
    idempotency_key = forms.CharField(max_length=100, required=False, widget=forms.HiddenInput)


class BountyForm(forms.Form):
    thread_ref = forms.CharField(
        label=_("Thread"),
        max_length=200,
        help_text=_("The forum thread's link or id, e.g. https://forum.example.com/t/123"),
    )
    title = forms.CharField(label=_("Title"), max_length=200, help_text=_("What answer are you looking for?"))
    coins = forms.DecimalField(label=_("Amount"), min_value=Decimal("0.01"), max_digits=14, decimal_places=2)
    expires_in_days = forms.IntegerField(min_value=1, max_value=365, initial=7, label=_("Open for (days)"))
    idempotency_key = forms.CharField(max_length=100, required=False, widget=forms.HiddenInput)

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.fields["expires_in_days"].initial = settings.REWARDS_BOUNTY_DAYS
        days = self.fields["expires_in_days"]
        assert isinstance(days, forms.IntegerField)
        days.max_value = settings.REWARDS_BOUNTY_MAX_DAYS


class AwardForm(forms.Form):
    answer_id = forms.CharField(label=_("Answer"), max_length=128)
