from datetime import date, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from .queries import Period

DEFAULT_DAYS = 30
MAX_DAYS = 366


def default_period(zone: ZoneInfo, today: date | None = None) -> Period:
    """The last 30 days, today included, in `zone`."""
    last = today or timezone.localdate(timezone=zone)
    return Period(last - timedelta(days=DEFAULT_DAYS - 1), last, zone)


class PeriodForm(forms.Form):
    first = forms.DateField(label=_("From"), widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"))
    last = forms.DateField(label=_("To (inclusive)"), widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"))

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        first, last = data.get("first"), data.get("last")
        if first and last:
            if first > last:
                raise forms.ValidationError(_("The period must start on or before its last day."))
            if (last - first).days + 1 > MAX_DAYS:
                raise forms.ValidationError(_("Choose a period of at most %(days)d days.") % {"days": MAX_DAYS})
        return data

    def period(self, zone: ZoneInfo) -> Period:
        return Period(self.cleaned_data["first"], self.cleaned_data["last"], zone)
