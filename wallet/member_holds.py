"""Members put on hold for review (issue 13, fraud and abuse signals).

A hold freezes what leaves a member's wallet (spending, payouts, refunds of their purchases)
until staff clear it; what comes in (their purchases, awards, refunds of their spends) is
still credited. The state the services check lives on the member's accounts (`Account.frozen`,
read under the same row lock as the funds check); this table is its history: one append-only
row per hold and per clearance, with who and why. Only `wallet.services.member_hold` and
`member_clear` write either.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from .models import AppendOnlyModel


class MemberHoldAction(models.TextChoices):
    HOLD = "hold", _("Put on hold")
    CLEAR = "clear", _("Cleared")


class MemberHold(AppendOnlyModel):
    """One hold or clearance of a member: who decided, why, and which signal led to it."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", verbose_name=_("member")
    )
    action = models.CharField(max_length=8, choices=MemberHoldAction.choices, verbose_name=_("action"))
    reason = models.TextField(verbose_name=_("reason"))
    # The review-queue signal that led to it (e.g. "shared_wallet:0xabc…"), blank when none.
    signal = models.CharField(max_length=200, blank=True, verbose_name=_("signal"))
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", verbose_name=_("decided by")
    )
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("decided at"))

    class Meta:
        verbose_name = _("member hold")
        verbose_name_plural = _("member holds")
        permissions = [("review_fraud", "Can review fraud signals and hold or clear members")]
        constraints = [models.CheckConstraint(condition=~Q(reason=""), name="wallet_memberhold_reason_required")]
        indexes = [models.Index(fields=["user", "-id"], name="wallet_memberhold_user_idx")]

    def __str__(self) -> str:
        return f"{self.get_action_display()} · member #{self.user_id}"
