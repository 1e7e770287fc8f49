"""Referrals: who invited whom, and whether the referrer has been paid."""

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _


class ReferralStatus(models.TextChoices):
    ATTACHED = "attached", _("Waiting for a first purchase")
    REVIEW = "review", _("Held for staff review")
    PAID = "paid", _("Referrer paid")
    REJECTED = "rejected", _("Rejected by staff")


class Referral(models.Model):
    referrer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+", verbose_name=_("referrer")
    )
    referred = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+", verbose_name=_("referred")
    )
    code = models.CharField(max_length=16, verbose_name=_("code"))
    ip = models.GenericIPAddressField(null=True, blank=True, verbose_name=_("ip"))
    same_ip = models.BooleanField(default=False, verbose_name=_("same ip"))
    same_wallet = models.BooleanField(default=False, verbose_name=_("same wallet"))
    status = models.CharField(
        max_length=16, choices=ReferralStatus.choices, default=ReferralStatus.ATTACHED, verbose_name=_("status")
    )
    purchase_ref = models.CharField(max_length=120, blank=True, verbose_name=_("purchase ref"))
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))
    converted_at = models.DateTimeField(null=True, blank=True, verbose_name=_("converted at"))
    review_note = models.CharField(max_length=255, blank=True, verbose_name=_("review note"))

    class Meta:
        verbose_name = _("referral")
        verbose_name_plural = _("referrals")
        constraints = [
            models.CheckConstraint(condition=~Q(referrer=F("referred")), name="rewards_referral_not_self"),
        ]

    def __str__(self) -> str:
        return f"Referral {self.referrer_id} → {self.referred_id} ({self.status})"
