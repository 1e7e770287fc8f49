"""The dashboard history's filter: a GET form (type and date range) shared by the page and the
CSV export, so both show the same rows."""

from datetime import date, datetime, time, timedelta

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from wallet.models import KindCategory
from wallet.selectors import HistoryFilter

# The filter's names for the wallet's kind categories, as a member reads them in a menu.
CATEGORY_LABELS = {
    KindCategory.PURCHASE: _("Purchases"),
    KindCategory.BONUS: _("Bonuses"),
    KindCategory.EARNING: _("Earnings"),
    KindCategory.SPENDING: _("Spending"),
    KindCategory.REVERSAL: _("Refunds and reversals"),
    KindCategory.ADJUSTMENT: _("Adjustments"),
}
# Dates outside this range are typing mistakes, and date.max + 1 day would overflow.
EARLIEST = date(2000, 1, 1)
LATEST = date(2999, 12, 31)


class DateInput(forms.DateInput):
    input_type = "date"

    def __init__(self) -> None:
        super().__init__(format="%Y-%m-%d")


class HistoryFilterForm(forms.Form):
    type = forms.ChoiceField(
        label=_("Type"),
        required=False,
        choices=[("", _("All types")), *((c.value, label) for c, label in CATEGORY_LABELS.items())],
        error_messages={"invalid_choice": _("Choose a type from the list.")},
    )
    start = forms.DateField(
        label=_("From"),
        required=False,
        widget=DateInput(),
        input_formats=["%Y-%m-%d"],
        error_messages={"invalid": _("Enter the start date as YYYY-MM-DD.")},
    )
    end = forms.DateField(
        label=_("To"),
        required=False,
        widget=DateInput(),
        input_formats=["%Y-%m-%d"],
        error_messages={"invalid": _("Enter the end date as YYYY-MM-DD.")},
    )

    def clean_start(self) -> date | None:
        return self._in_range(self.cleaned_data.get("start"))

    def clean_end(self) -> date | None:
        return self._in_range(self.cleaned_data.get("end"))

    @staticmethod
    def _in_range(value: date | None) -> date | None:
        if value is not None and not EARLIEST <= value <= LATEST:
            raise forms.ValidationError(
                _("Choose a date between %(earliest)s and %(latest)s."),
                code="out_of_range",
                params={"earliest": EARLIEST.isoformat(), "latest": LATEST.isoformat()},
            )
        return value

    def clean(self) -> dict[str, object]:
        cleaned = super().clean() or {}
        start, end = cleaned.get("start"), cleaned.get("end")
        if isinstance(start, date) and isinstance(end, date) and start > end:
            raise forms.ValidationError(_("The start date is after the end date."), code="reversed_range")
        return cleaned

    @property
    def is_filtering(self) -> bool:
        return self.is_bound and any(self.data.get(name) for name in self.fields)

    def history_filter(self) -> HistoryFilter:
        """The filter for valid data; dates are whole days in the active (the member's) time zone,
        the end date included. Call only after is_valid()."""
        data = self.cleaned_data
        category = data.get("type")
        return HistoryFilter(
            categories=(KindCategory(category),) if category else (),
            since=_day_start(data.get("start")),
            until=_day_start(data["end"] + timedelta(days=1)) if data.get("end") else None,
        )


def _day_start(day: date | None) -> datetime | None:
    if day is None:
        return None
    return timezone.make_aware(datetime.combine(day, time.min), timezone.get_current_timezone())
