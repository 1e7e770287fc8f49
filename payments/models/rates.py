"""Exchange rates staff set for showing amounts paid in USD in a member's display currency."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords


def rate_currencies() -> list[tuple[str, str]]:
    """The display currencies other than USD (the currency amounts are paid and stored in)."""
    return [(code, code) for code in settings.GOLDBOOK_DISPLAY_CURRENCIES if code != "USD"]


class ExchangeRate(models.Model):
    """What one US dollar is worth in a display currency from `effective_date` on, as a staff
    member set it. Pages show the latest rate in force with its date; without one, USD only.
    Rows are history: a new rate is a new row, so old receipts keep the rate they showed."""

    currency = models.CharField(_("currency"), max_length=3, choices=rate_currencies())
    rate = models.DecimalField(
        _("rate per 1 USD"), max_digits=14, decimal_places=6, help_text=_("e.g. 7.1850 for 1 USD = 7.1850 CNY.")
    )
    effective_date = models.DateField(_("effective date"), help_text=_("Shown beside every converted amount."))
    set_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("set by"),
        null=True,
        blank=True,
        editable=False,
        on_delete=models.PROTECT,
        related_name="+",
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    # A correction to a rate (not a new dated row) is recorded: who, when, from what.
    history = HistoricalRecords()

    class Meta:
        verbose_name = _("exchange rate")
        verbose_name_plural = _("exchange rates")
        ordering = ["currency", "-effective_date"]
        constraints = [
            models.UniqueConstraint(fields=["currency", "effective_date"], name="payments_rate_currency_date_uniq"),
            models.CheckConstraint(condition=Q(rate__gt=0), name="payments_rate_gt_0"),
        ]

    def __str__(self) -> str:
        return f"1 USD = {self.rate.normalize()} {self.currency} ({self.effective_date.isoformat()})"
