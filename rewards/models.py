"""Rewards: activity intake, earning rules and awards, bounties, the reward store, leaderboards.

Amounts are integer minor units of the site currency (`BigIntegerField`), converted to `Decimal`
at the edges. Balances move only through `wallet.services`; these rows record *why* they moved.
"""

from django.conf import settings
from django.contrib.auth.models import Group
from django.core.validators import FileExtensionValidator
from django.db import models
from django.db.models import F, Q
from django.utils import timezone


class Integration(models.Model):
    """A forum (Discuz!, Discourse, ...) allowed to post signed activity events.

    The secret is stored as given: verifying an HMAC needs the key itself, not a digest of it.
    """

    name = models.SlugField(max_length=64, unique=True)
    secret = models.CharField(max_length=128)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.name


class MemberLink(models.Model):
    """A forum's own user id for a Goldbook user (learnt from events carrying both)."""

    integration = models.ForeignKey(Integration, on_delete=models.CASCADE, related_name="member_links")
    external_id = models.CharField(max_length=128)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["integration", "external_id"], name="rewards_memberlink_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.integration}:{self.external_id} → {self.user_id}"


class EventType(models.TextChoices):
    POST_UPVOTED = "post.upvoted", "Post upvoted"
    POST_UNVOTED = "post.unvoted", "Post vote withdrawn"
    POST_DELETED = "post.deleted", "Post deleted"
    ANSWER_POSTED = "answer.posted", "Answer posted"
    ANSWER_ACCEPTED = "answer.accepted", "Answer accepted"
    ANSWER_UNACCEPTED = "answer.unaccepted", "Answer unaccepted"
    EA_VERIFIED = "ea.verified", "EA verified"
    REFERRAL_CONVERTED = "referral.converted", "Referral converted"


class EventStatus(models.TextChoices):
    PENDING = "pending", "Waiting for the user to appear"
    APPLIED = "applied", "Applied"
    FAILED = "failed", "Failed (see note)"


class ActivityEvent(models.Model):
    """One forum event, stored once per (source, event_id): a replay is a no-op."""

    # The integration's name, or "goldbook" for events Goldbook raises itself.
    source = models.CharField(max_length=64)
    event_id = models.CharField(max_length=128)
    type = models.CharField(max_length=32, choices=EventType.choices)
    occurred_at = models.DateTimeField()
    received_at = models.DateTimeField(auto_now_add=True)
    user_email = models.CharField(max_length=254, blank=True)
    user_external_id = models.CharField(max_length=128, blank=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    object_type = models.CharField(max_length=32)
    object_id = models.CharField(max_length=128)
    data = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=16, choices=EventStatus.choices, default=EventStatus.PENDING)
    applied_at = models.DateTimeField(null=True, blank=True)
    note = models.CharField(max_length=255, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["source", "event_id"], name="rewards_event_unique"),
        ]
        indexes = [
            models.Index(fields=["user_email"], condition=Q(status="pending"), name="rewards_event_pending_email"),
            models.Index(
                fields=["source", "user_external_id"], condition=Q(status="pending"), name="rewards_event_pending_ext"
            ),
        ]

    def __str__(self) -> str:
        return f"Event {self.source}:{self.event_id} {self.type} ({self.status})"

    @property
    def object_key(self) -> str:
        return f"{self.source}:{self.object_type}:{self.object_id}"


class ObjectVote(models.Model):
    """Distinct voters per forum object, tracked here rather than trusting the forum's count."""

    object_key = models.CharField(max_length=240)
    voter_key = models.CharField(max_length=200)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["object_key", "voter_key"], name="rewards_vote_unique")]

    def __str__(self) -> str:
        return f"{self.voter_key} on {self.object_key}"


class DeletedObject(models.Model):
    """A forum object reported deleted: it earns nothing any more."""

    object_key = models.CharField(max_length=240, unique=True)
    deleted_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.object_key


class Cycle(models.TextChoices):
    ONCE = "once", "Once per user"
    DAY = "day", "Per day"
    WEEK = "week", "Per week"
    MONTH = "month", "Per month"
    UNLIMITED = "unlimited", "Unlimited"


class EarningRule(models.Model):
    name = models.CharField(max_length=120)
    event_type = models.CharField(max_length=32, choices=EventType.choices)
    amount = models.BigIntegerField(help_text="Coins awarded, in minor units (the admin form shows coins).")
    min_upvotes = models.PositiveIntegerField(
        default=0, help_text="Quality condition: distinct voters other than the author (posts only; 0 = none)."
    )
    cycle = models.CharField(max_length=16, choices=Cycle.choices, default=Cycle.UNLIMITED)
    max_per_cycle = models.PositiveIntegerField(default=0, help_text="Awards allowed per cycle (0 = no limit).")
    once_per_object = models.BooleanField(default=True)
    exempt_from_daily_cap = models.BooleanField(default=False)
    is_active = models.BooleanField(default=True)
    starts_at = models.DateTimeField(null=True, blank=True)
    ends_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.CheckConstraint(condition=Q(amount__gt=0), name="rewards_rule_amount_gt_0")]

    def __str__(self) -> str:
        return self.name

    def is_live(self, at: "timezone.datetime") -> bool:
        return (
            self.is_active
            and (self.starts_at is None or self.starts_at <= at)
            and (self.ends_at is None or at < self.ends_at)
        )


class Booster(models.Model):
    """An admin-scheduled multiplier (2× this weekend) for chosen rules."""

    name = models.CharField(max_length=120)
    multiplier = models.DecimalField(max_digits=5, decimal_places=2)
    rules = models.ManyToManyField(EarningRule, related_name="boosters")
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    is_active = models.BooleanField(default=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(multiplier__gt=0), name="rewards_booster_multiplier_gt_0"),
            models.CheckConstraint(condition=Q(ends_at__gt=F("starts_at")), name="rewards_booster_window"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ×{self.multiplier}"


class RewardProfile(models.Model):
    """Per-user rewards state. Its row is the lock that serialises a user's earning and redeeming."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="reward_profile")
    referral_code = models.CharField(max_length=16, unique=True)
    title = models.CharField(max_length=60, blank=True)
    # Coins reversed that the balance could not cover, still to be recovered from future awards.
    debt = models.BigIntegerField(default=0)

    class Meta:
        constraints = [models.CheckConstraint(condition=Q(debt__gte=0), name="rewards_profile_debt_gte_0")]

    def __str__(self) -> str:
        return f"Rewards profile of {self.user_id}"


class AwardStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    REVERSED = "reversed", "Reversed"


class Award(models.Model):
    """Coins paid by a rule for an object. The ledger transfer's cause."""

    rule = models.ForeignKey(EarningRule, on_delete=models.PROTECT, related_name="awards")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    object_key = models.CharField(max_length=240)
    # 1 for the first award of (rule, user, object); a re-award after a reversal takes the next.
    generation = models.PositiveIntegerField(default=1)
    event = models.ForeignKey(ActivityEvent, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    amount = models.BigIntegerField()
    base_amount = models.BigIntegerField()
    booster = models.ForeignKey(Booster, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    counts_toward_cap = models.BooleanField(default=True)
    status = models.CharField(max_length=16, choices=AwardStatus.choices, default=AwardStatus.ACTIVE)
    transfer = models.OneToOneField("wallet.Transfer", null=True, on_delete=models.PROTECT, related_name="+")
    reversal_transfer = models.OneToOneField(
        "wallet.Transfer", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    reversed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="rewards_award_amount_gt_0"),
            models.UniqueConstraint(
                fields=["rule", "user", "object_key", "generation"], name="rewards_award_generation_unique"
            ),
            # Never two live awards of one rule for one object: a duplicate event cannot pay twice.
            models.UniqueConstraint(
                fields=["rule", "user", "object_key"], condition=Q(status="active"), name="rewards_award_one_active"
            ),
        ]
        indexes = [
            models.Index(fields=["user", "created_at"], name="rewards_award_user_day_idx"),
            models.Index(fields=["object_key"], name="rewards_award_object_idx"),
        ]

    def __str__(self) -> str:
        return f"Award #{self.pk} {self.rule_id} → {self.user_id} ({self.status})"

    def history_fields(self, transfer: object) -> dict[str, str]:
        return {"notes": f"{self.rule.name}"}


class RewardDebt(models.Model):
    """The part of a reversal the user's balance could not cover, recovered from future awards."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    award = models.OneToOneField(Award, on_delete=models.PROTECT, related_name="debt")
    amount = models.BigIntegerField()
    recovered = models.BigIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="rewards_debt_amount_gt_0"),
            models.CheckConstraint(
                condition=Q(recovered__gte=0) & Q(recovered__lte=F("amount")), name="rewards_debt_recovered_range"
            ),
        ]

    def __str__(self) -> str:
        return f"Debt #{self.pk} {self.recovered}/{self.amount} of user {self.user_id}"

    @property
    def outstanding(self) -> int:
        return self.amount - self.recovered

    def history_fields(self, transfer: object) -> dict[str, str]:
        return {"notes": "Recovery of a reversed reward"}


class DebtRecovery(models.Model):
    """One recovery transfer: part of a later award paid back towards a debt."""

    debt = models.ForeignKey(RewardDebt, on_delete=models.PROTECT, related_name="recoveries")
    award = models.ForeignKey(Award, on_delete=models.PROTECT, related_name="+")
    amount = models.BigIntegerField()
    transfer = models.OneToOneField("wallet.Transfer", on_delete=models.PROTECT, related_name="+")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["debt", "award"], name="rewards_recovery_once_per_award"),
            models.CheckConstraint(condition=Q(amount__gt=0), name="rewards_recovery_amount_gt_0"),
        ]

    def __str__(self) -> str:
        return f"Recovery {self.amount} for debt #{self.debt_id}"


class Period(models.TextChoices):
    ALL = "all", "All time"
    MONTH = "month", "This month"
    WEEK = "week", "This week"


class EarningTotal(models.Model):
    """Coins earned per user per period bucket ("all", "2025-03", "2025-W11"): the SQL leaderboard.

    Updated in the transaction that posts the award or reversal; rebuilt from the ledger by
    `manage.py rebuild_leaderboards`.
    """

    period = models.CharField(max_length=8, choices=Period.choices)
    bucket = models.CharField(max_length=10)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    coins = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["period", "bucket", "user"], name="rewards_total_unique"),
        ]
        indexes = [models.Index(fields=["period", "bucket", "-coins", "user"], name="rewards_total_rank_idx")]

    def __str__(self) -> str:
        return f"{self.period}:{self.bucket} user {self.user_id}: {self.coins}"


class BountyStatus(models.TextChoices):
    OPEN = "open", "Open"
    AWARDED = "awarded", "Awarded"
    CANCELLED = "cancelled", "Cancelled"
    EXPIRED = "expired", "Expired (returned)"


class Bounty(models.Model):
    """Coins a member offers on a forum thread, held in the escrow system account until resolved."""

    offerer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    thread_ref = models.CharField(max_length=200)
    title = models.CharField(max_length=200)
    amount = models.BigIntegerField()
    status = models.CharField(max_length=16, choices=BountyStatus.choices, default=BountyStatus.OPEN)
    answer_count = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    # Stack Exchange's grace period: after expiry the offerer may still award until this moment.
    grace_ends_at = models.DateTimeField()
    resolved_at = models.DateTimeField(null=True, blank=True)
    winner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    escrow_transfer = models.OneToOneField("wallet.Transfer", null=True, on_delete=models.PROTECT, related_name="+")
    payout_transfer = models.OneToOneField(
        "wallet.Transfer", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    idempotency_key = models.CharField(max_length=120)

    class Meta:
        verbose_name_plural = "bounties"
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="rewards_bounty_amount_gt_0"),
            models.UniqueConstraint(fields=["offerer", "idempotency_key"], name="rewards_bounty_idem"),
        ]
        indexes = [
            models.Index(fields=["grace_ends_at"], condition=Q(status="open"), name="rewards_bounty_open_idx"),
            models.Index(fields=["thread_ref"], name="rewards_bounty_thread_idx"),
        ]

    def __str__(self) -> str:
        return f"Bounty #{self.pk} on {self.thread_ref} ({self.status})"

    def history_fields(self, transfer: object) -> dict[str, str]:
        return {"notes": f"Bounty: {self.title}"}


class RewardKind(models.TextChoices):
    PREMIUM_ACCESS = "premium_access", "Premium access (group for N days)"
    VIP_GROUP = "vip_group", "VIP group membership (N days)"
    BADGE = "badge", "Badge"
    CUSTOM_TITLE = "custom_title", "Custom title"
    MANUAL = "manual", "Manual fulfilment by staff"


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

    def is_live(self, at: "timezone.datetime") -> bool:
        return (
            self.is_active
            and (self.starts_at is None or self.starts_at <= at)
            and (self.ends_at is None or at < self.ends_at)
        )

    @property
    def kind_label(self) -> str:
        return {
            RewardKind.PREMIUM_ACCESS: "Premium access",
            RewardKind.VIP_GROUP: "VIP group",
            RewardKind.BADGE: "Badge",
            RewardKind.CUSTOM_TITLE: "Title",
            RewardKind.MANUAL: "Fulfilled by staff",
        }.get(self.kind, self.kind)


class RedemptionStatus(models.TextChoices):
    PENDING = "pending", "Waiting for staff"
    FULFILLED = "fulfilled", "Fulfilled"
    CANCELLED = "cancelled", "Cancelled and refunded"


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


class ReferralStatus(models.TextChoices):
    ATTACHED = "attached", "Waiting for a first purchase"
    REVIEW = "review", "Held for staff review"
    PAID = "paid", "Referrer paid"
    REJECTED = "rejected", "Rejected by staff"


class Referral(models.Model):
    referrer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    referred = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    code = models.CharField(max_length=16)
    ip = models.GenericIPAddressField(null=True, blank=True)
    same_ip = models.BooleanField(default=False)
    same_wallet = models.BooleanField(default=False)
    status = models.CharField(max_length=16, choices=ReferralStatus.choices, default=ReferralStatus.ATTACHED)
    purchase_ref = models.CharField(max_length=120, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    converted_at = models.DateTimeField(null=True, blank=True)
    review_note = models.CharField(max_length=255, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=~Q(referrer=F("referred")), name="rewards_referral_not_self"),
        ]

    def __str__(self) -> str:
        return f"Referral {self.referrer_id} → {self.referred_id} ({self.status})"
