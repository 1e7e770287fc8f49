"""Free downloads: each member's allowance and the ad completions that add to it."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _


class FreeAllowance(models.Model):
    """The user's free downloads: starts at DOWNLOADS_FREE_PER_ACCOUNT, ads add one each."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="free_downloads", verbose_name=_("user")
    )
    remaining = models.PositiveIntegerField(verbose_name=_("remaining"))
    used_total = models.PositiveIntegerField(default=0, verbose_name=_("used total"))
    granted_by_ads = models.PositiveIntegerField(default=0, verbose_name=_("granted by ads"))
    updated_at = models.DateTimeField(auto_now=True, verbose_name=_("updated at"))

    class Meta:
        verbose_name = _("free allowance")
        verbose_name_plural = _("free allowances")
        constraints = [models.CheckConstraint(condition=Q(remaining__gte=0), name="downloads_free_remaining_gte_0")]

    def __str__(self) -> str:
        return f"{self.remaining} free downloads of #{self.user_id}"


class AdCompletion(models.Model):
    """A redeemed ad-completion token. The nonce is unique: a token is redeemed once."""

    nonce = models.CharField(max_length=128, unique=True, verbose_name=_("nonce"))
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="ad_completions", verbose_name=_("user")
    )
    issued_at = models.DateTimeField(verbose_name=_("issued at"))
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))

    class Meta:
        verbose_name = _("ad completion")
        verbose_name_plural = _("ad completions")
        indexes = [models.Index(fields=["user", "created_at"], name="downloads_ad_user_day_idx")]

    def __str__(self) -> str:
        return f"Ad completion {self.nonce[:12]}… by #{self.user_id}"
