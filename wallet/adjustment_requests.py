"""Manual balance adjustments under maker-checker (core.approvals): one staff member asks, a
different one approves, and only then does `wallet.services.adjustment_approve` post it."""

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from .models import Account, Transfer


class AdjustmentStatus(models.TextChoices):
    REQUESTED = "requested", _("Awaiting approval")
    APPROVED = "approved", _("Approved and posted")
    REJECTED = "rejected", _("Rejected")


class AdjustmentRequest(models.Model):
    """A manual credit or debit (maker-checker): posted only when a second staff user approves."""

    account = models.ForeignKey(
        Account, on_delete=models.PROTECT, related_name="adjustment_requests", verbose_name=_("account")
    )
    # Signed minor units: positive credits the user, negative debits them.
    amount = models.BigIntegerField(verbose_name=_("amount"))
    reason = models.TextField(verbose_name=_("reason"))
    status = models.CharField(
        max_length=16, choices=AdjustmentStatus.choices, default=AdjustmentStatus.REQUESTED, verbose_name=_("status")
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", verbose_name=_("requested by")
    )
    requested_at = models.DateTimeField(auto_now_add=True, verbose_name=_("requested at"))
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("decided by"),
    )
    decided_at = models.DateTimeField(null=True, blank=True, verbose_name=_("decided at"))
    decision_note = models.CharField(max_length=255, blank=True, verbose_name=_("decision note"))
    transfer = models.OneToOneField(
        Transfer, null=True, blank=True, on_delete=models.PROTECT, related_name="+", verbose_name=_("transfer")
    )

    class Meta:
        verbose_name = _("adjustment request")
        verbose_name_plural = _("adjustment requests")
        permissions = [
            ("request_adjustment", "Can request a manual balance adjustment"),
            ("approve_adjustment", "Can approve or reject a manual balance adjustment"),
        ]
        constraints = [
            models.CheckConstraint(condition=~Q(amount=0), name="wallet_adjustment_amount_nonzero"),
            models.CheckConstraint(
                condition=Q(decided_by__isnull=True) | ~Q(decided_by=F("requested_by")),
                name="wallet_adjustment_four_eyes",
            ),
            models.CheckConstraint(
                condition=~Q(status=AdjustmentStatus.APPROVED) | Q(transfer__isnull=False),
                name="wallet_adjustment_approved_has_transfer",
            ),
        ]

    def __str__(self) -> str:
        return f"Adjustment #{self.pk} {self.amount:+d} ({self.status})"
