"""The reward store: rewards, redemptions, and what a redemption grants (group time, badges)."""

from datetime import datetime

from django.conf import settings
from django.contrib.auth.models import Group
from django.core.validators import FileExtensionValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class RewardKind(models.TextChoices):
    PREMIUM_ACCESS = "premium_access", _("Premium access (group for N days)")
    VIP_GROUP = "vip_group", _("VIP group membership (N days)")
    BADGE = "badge", _("Badge")
    CUSTOM_TITLE = "custom_title", _("Custom title")
    MANUAL = "manual", _("Manual fulfilment by staff")


# The store's short labels (the choices' labels are the admin's longer descriptions).
_KIND_LABELS: dict[str, str] = {
    RewardKind.PREMIUM_ACCESS: "Premium access",
    RewardKind.VIP_GROUP: "VIP group",
    RewardKind.BADGE: "Badge",
    RewardKind.CUSTOM_TITLE: "Title",
    RewardKind.MANUAL: "Fulfilled by staff",
}


class Reward(models.Model):
    name = models.CharField(max_length=120, verbose_name=_("name"))
    slug = models.SlugField(max_length=64, unique=True, verbose_name=_("slug"))
    description = models.TextField(blank=True, verbose_name=_("description"))
    price = models.BigIntegerField(help_text=_("In minor units (the admin form shows coins)."), verbose_name=_("price"))
    image = models.FileField(
        upload_to="rewards/",
        blank=True,
        validators=[FileExtensionValidator(["png", "jpg", "jpeg", "gif", "webp", "svg"])],
        verbose_name=_("image"),
    )
    kind = models.CharField(max_length=20, choices=RewardKind.choices, verbose_name=_("kind"))
    # None = unlimited. Decremented with a conditional UPDATE, never read-modify-write.
    stock = models.PositiveIntegerField(null=True, blank=True, verbose_name=_("stock"))
    per_user_limit = models.PositiveIntegerField(
        null=True, blank=True, help_text=_("Empty = no limit."), verbose_name=_("per user limit")
    )
    starts_at = models.DateTimeField(null=True, blank=True, verbose_name=_("starts at"))
    ends_at = models.DateTimeField(null=True, blank=True, verbose_name=_("ends at"))
    is_active = models.BooleanField(default=True, verbose_name=_("is active"))
    group = models.ForeignKey(
        Group, null=True, blank=True, on_delete=models.PROTECT, related_name="+", verbose_name=_("group")
    )
    duration_days = models.PositiveIntegerField(null=True, blank=True, verbose_name=_("duration days"))
    badge_label = models.CharField(max_length=40, blank=True, verbose_name=_("badge label"))
    title_text = models.CharField(max_length=60, blank=True, verbose_name=_("title text"))
    sort_order = models.IntegerField(default=0, verbose_name=_("sort order"))

    class Meta:
        verbose_name = _("reward")
        verbose_name_plural = _("rewards")
        ordering = ["sort_order", "price", "pk"]
        constraints = [models.CheckConstraint(condition=Q(price__gt=0), name="rewards_reward_price_gt_0")]

    def __str__(self) -> str:
        return self.name

    def is_live(self, at: datetime) -> bool:
        return (
            self.is_active
            and (self.starts_at is None or self.starts_at <= at)
            and (self.ends_at is None or at < self.ends_at)
        )

    @property
    def kind_label(self) -> str:
        return _KIND_LABELS.get(self.kind, self.kind)


class RedemptionStatus(models.TextChoices):
    PENDING = "pending", _("Waiting for staff")
    FULFILLED = "fulfilled", _("Fulfilled")
    CANCELLED = "cancelled", _("Cancelled and refunded")


class Redemption(models.Model):
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", verbose_name=_("user")
    )
    reward = models.ForeignKey(Reward, on_delete=models.PROTECT, related_name="redemptions", verbose_name=_("reward"))
    price = models.BigIntegerField(verbose_name=_("price"))
    status = models.CharField(max_length=16, choices=RedemptionStatus.choices, verbose_name=_("status"))
    idempotency_key = models.CharField(max_length=120, verbose_name=_("idempotency key"))
    transfer = models.OneToOneField(
        "wallet.Transfer", null=True, on_delete=models.PROTECT, related_name="+", verbose_name=_("transfer")
    )
    refund_transfer = models.OneToOneField(
        "wallet.Transfer",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("refund transfer"),
    )
    created_at = models.DateTimeField(default=timezone.now, verbose_name=_("created at"))
    resolved_at = models.DateTimeField(null=True, blank=True, verbose_name=_("resolved at"))
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("resolved by"),
    )
    staff_note = models.CharField(max_length=255, blank=True, verbose_name=_("staff note"))

    class Meta:
        verbose_name = _("redemption")
        verbose_name_plural = _("redemptions")
        constraints = [
            models.UniqueConstraint(fields=["user", "idempotency_key"], name="rewards_redemption_idem"),
        ]
        indexes = [models.Index(fields=["user", "reward"], name="rewards_redemption_user_idx")]

    def __str__(self) -> str:
        return f"Redemption #{self.pk} {self.reward_id} by {self.user_id} ({self.status})"

    def history_fields(self, transfer: object) -> dict[str, str]:
        return {"notes": f"Reward: {self.reward.name}"}


class GroupGrant(models.Model):
    """Time-limited membership of a Django group (premium access, VIP). Removed when it expires."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+", verbose_name=_("user")
    )
    group = models.ForeignKey(Group, on_delete=models.CASCADE, related_name="+", verbose_name=_("group"))
    redemption = models.ForeignKey(
        Redemption, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", verbose_name=_("redemption")
    )
    expires_at = models.DateTimeField(verbose_name=_("expires at"))
    removed_at = models.DateTimeField(null=True, blank=True, verbose_name=_("removed at"))

    class Meta:
        verbose_name = _("group grant")
        verbose_name_plural = _("group grants")
        indexes = [models.Index(fields=["expires_at"], condition=Q(removed_at__isnull=True), name="rewards_grant_due")]

    def __str__(self) -> str:
        return f"{self.group_id} for user {self.user_id} until {self.expires_at:%Y-%m-%d}"


class UserBadge(models.Model):
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+", verbose_name=_("user")
    )
    label = models.CharField(max_length=40, verbose_name=_("label"))
    redemption = models.ForeignKey(
        Redemption, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", verbose_name=_("redemption")
    )
    granted_at = models.DateTimeField(default=timezone.now, verbose_name=_("granted at"))

    class Meta:
        verbose_name = _("user badge")
        verbose_name_plural = _("user badges")
        constraints = [models.UniqueConstraint(fields=["user", "label"], name="rewards_badge_unique")]

    def __str__(self) -> str:
        return f"{self.label} ({self.user_id})"
