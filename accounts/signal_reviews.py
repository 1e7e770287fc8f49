"""Staff decisions on the fraud review queue's signals (issue 13; the signals: portal.fraud).

A signal is named by a stable key (its kind and subject, e.g. `shared_wallet:0xabc…`) and a
fingerprint of its evidence. Once staff hold or clear it, the queue hides that key while the
fingerprint is the same: new evidence (another account on the wallet, another payment) changes
the fingerprint and brings it back. Append-only: each decision is a row with who, why and when.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _


class SignalDecision(models.TextChoices):
    HELD = "held", _("Member put on hold")
    CLEARED = "cleared", _("Cleared: not fraud")


class SignalReview(models.Model):
    key = models.CharField(max_length=200, verbose_name=_("signal"))
    fingerprint = models.CharField(max_length=64, verbose_name=_("evidence fingerprint"))
    decision = models.CharField(max_length=8, choices=SignalDecision.choices, verbose_name=_("decision"))
    reason = models.TextField(verbose_name=_("reason"))
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", verbose_name=_("reviewed by")
    )
    reviewed_at = models.DateTimeField(auto_now_add=True, verbose_name=_("reviewed at"))

    class Meta:
        verbose_name = _("signal review")
        verbose_name_plural = _("signal reviews")
        constraints = [models.CheckConstraint(condition=~Q(reason=""), name="accounts_signalreview_reason_required")]
        indexes = [models.Index(fields=["key", "fingerprint"], name="accounts_signalreview_key_idx")]

    def __str__(self) -> str:
        return f"{self.key} · {self.get_decision_display()}"
