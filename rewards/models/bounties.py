"""Bounties: coins offered on a forum thread, held in escrow until awarded, cancelled or returned."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class BountyStatus(models.TextChoices):
    OPEN = "open", _("Open")
    AWARDED = "awarded", _("Awarded")
    CANCELLED = "cancelled", _("Cancelled")
    EXPIRED = "expired", _("Expired (returned)")


class Bounty(models.Model):
    """Coins a member offers on a forum thread, held in the escrow system account until resolved."""

    offerer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", verbose_name=_("offerer")
    )
    thread_ref = models.CharField(max_length=200, verbose_name=_("thread ref"))
    title = models.CharField(max_length=200, verbose_name=_("title"))
    amount = models.BigIntegerField(verbose_name=_("amount"))
    status = models.CharField(
        max_length=16, choices=BountyStatus.choices, default=BountyStatus.OPEN, verbose_name=_("status")
    )
    answer_count = models.PositiveIntegerField(default=0, verbose_name=_("answer count"))
    created_at = models.DateTimeField(default=timezone.now, verbose_name=_("created at"))
    expires_at = models.DateTimeField(verbose_name=_("expires at"))
    # Stack Exchange's grace period: after expiry the offerer may still award until this moment.
    grace_ends_at = models.DateTimeField(verbose_name=_("grace ends at"))
    resolved_at = models.DateTimeField(null=True, blank=True, verbose_name=_("resolved at"))
    winner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("winner"),
    )
    escrow_transfer = models.OneToOneField(
        "wallet.Transfer", null=True, on_delete=models.PROTECT, related_name="+", verbose_name=_("escrow transfer")
    )
    payout_transfer = models.OneToOneField(
        "wallet.Transfer",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("payout transfer"),
    )
    idempotency_key = models.CharField(max_length=120, verbose_name=_("idempotency key"))

    class Meta:
        verbose_name = _("bounty")
        verbose_name_plural = _("bounties")
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="rewards_bounty_amount_gt_0"),
            models.UniqueConstraint(fields=["offerer", "idempotency_key"], name="rewards_bounty_idem"),
        ]
        indexes = [
            models.Index(
                fields=["grace_ends_at"], condition=Q(status=BountyStatus.OPEN), name="rewards_bounty_open_idx"
            ),
            models.Index(fields=["thread_ref"], name="rewards_bounty_thread_idx"),
        ]

    def __str__(self) -> str:
        return f"Bounty #{self.pk} on {self.thread_ref} ({self.status})"

    @property
    def is_open(self) -> bool:
        return self.status == BountyStatus.OPEN

    @property
    def is_awarded(self) -> bool:
        return self.status == BountyStatus.AWARDED

    def history_fields(self, transfer: object) -> dict[str, str]:
        return {"notes": f"Bounty: {self.title}"}
