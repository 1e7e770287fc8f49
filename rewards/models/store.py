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
    name = models.CharField(max_length=120)
    slug = models.SlugField(max_length=64, unique=True)
    description = models.TextField(blank=True)
    price = models.BigIntegerField(help_text="In minor units (the admin form shows coins).")
    image = models.FileField(
        upload_to="rewards/",
        blank=True,
        validators=[FileExtensionValidator(["png", "jpg", "jpeg", "gif", "webp", "svg"])],
    )
    kind = models.CharField(max_length=20, choices=RewardKind.choices)
    # None = unlimited. Decremented with a conditional UPDATE, never read-modify-write.
    stock = models.PositiveIntegerField(null=True, blank=True)
    per_user_limit = models.PositiveIntegerField(null=True, blank=True, help_text="Empty = no limit.")
    starts_at = models.DateTimeField(null=True, blank=True)
    ends_at = models.DateTimeField(null=True, blank=True)
    is_active = models.BooleanField(default=True)
    group = models.ForeignKey(Group, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    duration_days = models.PositiveIntegerField(null=True, blank=True)
    badge_label = models.CharField(max_length=40, blank=True)
    title_text = models.CharField(max_length=60, blank=True)
    sort_order = models.IntegerField(default=0)

    class Meta:
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
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    reward = models.ForeignKey(Reward, on_delete=models.PROTECT, related_name="redemptions")
    price = models.BigIntegerField()
    status = models.CharField(max_length=16, choices=RedemptionStatus.choices)
    idempotency_key = models.CharField(max_length=120)
    transfer = models.OneToOneField("wallet.Transfer", null=True, on_delete=models.PROTECT, related_name="+")
    refund_transfer = models.OneToOneField(
        "wallet.Transfer", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    staff_note = models.CharField(max_length=255, blank=True)

    class Meta:
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

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    group = models.ForeignKey(Group, on_delete=models.CASCADE, related_name="+")
    redemption = models.ForeignKey(Redemption, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    expires_at = models.DateTimeField()
    removed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["expires_at"], condition=Q(removed_at__isnull=True), name="rewards_grant_due")]

    def __str__(self) -> str:
        return f"{self.group_id} for user {self.user_id} until {self.expires_at:%Y-%m-%d}"


class UserBadge(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    label = models.CharField(max_length=40)
    redemption = models.ForeignKey(Redemption, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    granted_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "label"], name="rewards_badge_unique")]

    def __str__(self) -> str:
        return f"{self.label} ({self.user_id})"
