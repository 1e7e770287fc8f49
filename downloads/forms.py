import re
from datetime import date
from decimal import Decimal
from pathlib import PurePosixPath
from typing import Any

from django import forms
from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.template.defaultfilters import filesizeformat
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from .models import Item, ItemKind, Platform, PricingMode, Timeframe

SYMBOL_RE = re.compile(r"^[A-Za-z0-9._]{2,16}$")


class CatalogFilterForm(forms.Form):
    q = forms.CharField(required=False, max_length=100, label=_("Search"))
    kind = forms.ChoiceField(required=False, choices=[("", _("Everything")), *ItemKind.choices])


class JobStartForm(forms.Form):
    """Either tick songs (item_ids) or ask for the N newest songs you do not have yet."""

    item_ids = forms.ModelMultipleChoiceField(
        queryset=Item.objects.filter(kind=ItemKind.SONG), required=False, widget=forms.CheckboxSelectMultiple
    )
    newest = forms.IntegerField(required=False, min_value=1, label=_("Or the newest songs I don't have"))
    use_free_downloads = forms.BooleanField(required=False, initial=True, label=_("Use my free downloads first"))
    # Set on the confirmation page: a double submit of it starts one job.
    idempotency_key = forms.CharField(required=False, max_length=100)

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        picked = data.get("item_ids")
        newest = data.get("newest")
        if not picked and not newest:
            raise forms.ValidationError(_("Tick at least one song, or say how many of the newest songs you want."))
        if picked and newest:
            raise forms.ValidationError(_("Either tick songs or ask for the newest ones, not both."))
        count = len(picked) if picked else newest
        limit = settings.DOWNLOADS_MAX_SONGS_PER_JOB
        if count and count > limit:
            raise forms.ValidationError(_("One download can hold at most %(limit)s songs.") % {"limit": limit})
        return data


def _check_upload(f: UploadedFile, allowed: list[str], what: str) -> UploadedFile:
    ext = PurePosixPath(f.name or "").suffix.lower()
    if ext not in allowed:
        raise forms.ValidationError(
            _("%(what)s must be one of: %(allowed)s.") % {"what": what, "allowed": ", ".join(allowed)}
        )
    if f.size is None or f.size <= 0:
        raise forms.ValidationError(_("%(what)s is empty.") % {"what": what})
    if f.size > settings.DOWNLOADS_UPLOAD_MAX_BYTES:
        raise forms.ValidationError(
            _("%(what)s is %(size)s; the limit is %(limit)s.")
            % {
                "what": what,
                "size": filesizeformat(f.size),
                "limit": filesizeformat(settings.DOWNLOADS_UPLOAD_MAX_BYTES),
            }
        )
    if ext == ".zip":
        head = f.read(4)
        f.seek(0)
        if head != b"PK\x03\x04":
            raise forms.ValidationError(_("%(what)s is not a valid zip archive.") % {"what": what})
    return f


class EAUploadForm(forms.Form):
    title = forms.CharField(label=_("Title"), max_length=200)
    description = forms.CharField(
        label=_("Description"), widget=forms.Textarea(attrs={"rows": 4}), required=False, max_length=5000
    )
    file = forms.FileField(
        label=_("EA file"), help_text=_("The compiled or source EA (.ex4, .ex5, .mq4, .mq5) or a .zip.")
    )
    report_file = forms.FileField(label=_("Backtest report"), required=False, help_text=_("HTML, PDF or PNG."))
    platform = forms.ChoiceField(label=_("Platform"), choices=Platform.choices)
    symbol = forms.CharField(label=_("Symbol"), max_length=16, help_text=_("e.g. EURUSD or XAUUSD"))
    timeframe = forms.ChoiceField(label=_("Timeframe"), choices=Timeframe.choices)
    backtest_start = forms.DateField(label=_("Backtest start"), widget=forms.DateInput(attrs={"type": "date"}))
    backtest_end = forms.DateField(label=_("Backtest end"), widget=forms.DateInput(attrs={"type": "date"}))
    profit_factor = forms.DecimalField(
        label=_("Profit factor"), min_value=Decimal("0"), max_value=Decimal("99.99"), decimal_places=2
    )
    max_drawdown_pct = forms.DecimalField(
        label=_("Max drawdown (%)"), min_value=Decimal("0"), max_value=Decimal("100"), decimal_places=2
    )
    price = forms.DecimalField(label=_("Price"), min_value=Decimal("0"), max_value=Decimal("10000"), decimal_places=2)
    pricing_mode = forms.ChoiceField(label=_("Pricing"), choices=PricingMode.choices, initial=PricingMode.UNLOCK)

    def clean_file(self) -> UploadedFile:
        return _check_upload(self.cleaned_data["file"], settings.DOWNLOADS_EA_EXTENSIONS, str(_("The EA file")))

    def clean_report_file(self) -> UploadedFile | None:
        f = self.cleaned_data.get("report_file")
        return _check_upload(f, settings.DOWNLOADS_REPORT_EXTENSIONS, str(_("The report"))) if f else None

    # The choices, as the enum members services take.
    def clean_platform(self) -> Platform:
        return Platform(self.cleaned_data["platform"])

    def clean_timeframe(self) -> Timeframe:
        return Timeframe(self.cleaned_data["timeframe"])

    def clean_pricing_mode(self) -> PricingMode:
        return PricingMode(self.cleaned_data["pricing_mode"])

    def clean_symbol(self) -> str:
        symbol = self.cleaned_data["symbol"].strip()
        if not SYMBOL_RE.match(symbol):
            raise forms.ValidationError(_("Use 2 to 16 letters, digits, dots or underscores, e.g. EURUSD."))
        return symbol.upper()

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        start, end = data.get("backtest_start"), data.get("backtest_end")
        if isinstance(start, date) and isinstance(end, date):
            if start >= end:
                self.add_error("backtest_end", _("The backtest must end after it starts."))
            elif end > timezone.localdate():
                self.add_error("backtest_end", _("The backtest cannot end in the future."))
        return data
