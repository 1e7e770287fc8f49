"""Earning: rules and boosters, the awards they pay (the ledger transfers' cause), reward debt
left by reversals, each member's profile (their lock) and the leaderboard's earned totals."""

from datetime import datetime

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

from .intake import ActivityEvent, EventType


class Cycle(models.TextChoices):
    ONCE = "once", _("Once per user")
    DAY = "day", _("Per day")
    WEEK = "week", _("Per week")
    MONTH = "month", _("Per month")
    UNLIMITED = "unlimited", _("Unlimited")


class EarningRule(models.Model):
    name = models.CharField(max_length=120, verbose_name=_("name"))
    event_type = models.CharField(max_length=32, choices=EventType.choices, verbose_name=_("event type"))
    amount = models.BigIntegerField(
        help_text=_("Coins awarded, in minor units (the admin form shows coins)."), verbose_name=_("amount")
    )
    min_upvotes = models.PositiveIntegerField(
        default=0,
        help_text=_("Quality condition: distinct voters other than the author (posts only; 0 = none)."),
        verbose_name=_("min upvotes"),
    )
    cycle = models.CharField(max_length=16, choices=Cycle.choices, default=Cycle.UNLIMITED, verbose_name=_("cycle"))
    max_per_cycle = models.PositiveIntegerField(
        default=0, help_text=_("Awards allowed per cycle (0 = no limit)."), verbose_name=_("max per cycle")
    )
    once_per_object = models.BooleanField(default=True, verbose_name=_("once per object"))
    exempt_from_daily_cap = models.BooleanField(default=False, verbose_name=_("exempt from daily cap"))
    is_active = models.BooleanField(default=True, verbose_name=_("is active"))
    starts_at = models.DateTimeField(null=True, blank=True, verbose_name=_("starts at"))
    ends_at = models.DateTimeField(null=True, blank=True, verbose_name=_("ends at"))
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))
    history = HistoricalRecords()

    class Meta:
        verbose_name = _("earning rule")
        verbose_name_plural = _("earning rules")
        constraints = [models.CheckConstraint(condition=Q(amount__gt=0), name="rewards_rule_amount_gt_0")]

    def __str__(self) -> str:
        return self.name

    def is_live(self, at: datetime) -> bool:
        return (
            self.is_active
            and (self.starts_at is None or self.starts_at <= at)
            and (self.ends_at is None or at < self.ends_at)
        )


class Booster(models.Model):
    """An admin-scheduled multiplier (2× this weekend) for chosen rules."""

    name = models.CharField(max_length=120, verbose_name=_("name"))
    multiplier = models.DecimalField(max_digits=5, decimal_places=2, verbose_name=_("multiplier"))
    rules = models.ManyToManyField(EarningRule, related_name="boosters", verbose_name=_("rules"))
    starts_at = models.DateTimeField(verbose_name=_("starts at"))
    ends_at = models.DateTimeField(verbose_name=_("ends at"))
    is_active = models.BooleanField(default=True, verbose_name=_("is active"))
    history = HistoricalRecords(m2m_fields=[rules])

    class Meta:
        verbose_name = _("booster")
        verbose_name_plural = _("boosters")
        constraints = [
            models.CheckConstraint(condition=Q(multiplier__gt=0), name="rewards_booster_multiplier_gt_0"),
            models.CheckConstraint(condition=Q(ends_at__gt=F("starts_at")), name="rewards_booster_window"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ×{self.multiplier}"


class RewardProfile(models.Model):
    """Per-user rewards state. Its row is the lock that serialises a user's earning and redeeming."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="reward_profile", verbose_name=_("user")
    )
    referral_code = models.CharField(max_length=16, unique=True, verbose_name=_("referral code"))
    title = models.CharField(max_length=60, blank=True, verbose_name=_("title"))
    # Coins reversed that the balance could not cover, still to be recovered from future awards.
    debt = models.BigIntegerField(default=0, verbose_name=_("debt"))

    class Meta:
        verbose_name = _("reward profile")
        verbose_name_plural = _("reward profiles")
        constraints = [models.CheckConstraint(condition=Q(debt__gte=0), name="rewards_profile_debt_gte_0")]

    def __str__(self) -> str:
        return f"Rewards profile of {self.user_id}"


class AwardStatus(models.TextChoices):
    ACTIVE = "active", _("Active")
    REVERSED = "reversed", _("Reversed")


class Award(models.Model):
    """Coins paid by a rule for an object. The ledger transfer's cause."""

    rule = models.ForeignKey(EarningRule, on_delete=models.PROTECT, related_name="awards", verbose_name=_("rule"))
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", verbose_name=_("user")
    )
    object_key = models.CharField(max_length=240, verbose_name=_("object key"))
    # 1 for the first award of (rule, user, object); a re-award after a reversal takes the next.
    generation = models.PositiveIntegerField(default=1, verbose_name=_("generation"))
    event = models.ForeignKey(
        ActivityEvent, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", verbose_name=_("event")
    )
    amount = models.BigIntegerField(verbose_name=_("amount"))
    base_amount = models.BigIntegerField(verbose_name=_("base amount"))
    booster = models.ForeignKey(
        Booster, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", verbose_name=_("booster")
    )
    counts_toward_cap = models.BooleanField(default=True, verbose_name=_("counts toward cap"))
    status = models.CharField(
        max_length=16, choices=AwardStatus.choices, default=AwardStatus.ACTIVE, verbose_name=_("status")
    )
    transfer = models.OneToOneField(
        "wallet.Transfer", null=True, on_delete=models.PROTECT, related_name="+", verbose_name=_("transfer")
    )
    reversal_transfer = models.OneToOneField(
        "wallet.Transfer",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("reversal transfer"),
    )
    created_at = models.DateTimeField(default=timezone.now, verbose_name=_("created at"))
    reversed_at = models.DateTimeField(null=True, blank=True, verbose_name=_("reversed at"))

    class Meta:
        verbose_name = _("award")
        verbose_name_plural = _("awards")
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="rewards_award_amount_gt_0"),
            models.UniqueConstraint(
                fields=["rule", "user", "object_key", "generation"], name="rewards_award_generation_unique"
            ),
            # Never two live awards of one rule for one object: a duplicate event cannot pay twice.
            models.UniqueConstraint(
                fields=["rule", "user", "object_key"],
                condition=Q(status=AwardStatus.ACTIVE),
                name="rewards_award_one_active",
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

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", verbose_name=_("user")
    )
    award = models.OneToOneField(Award, on_delete=models.PROTECT, related_name="debt", verbose_name=_("award"))
    amount = models.BigIntegerField(verbose_name=_("amount"))
    recovered = models.BigIntegerField(default=0, verbose_name=_("recovered"))
    created_at = models.DateTimeField(default=timezone.now, verbose_name=_("created at"))

    class Meta:
        verbose_name = _("reward debt")
        verbose_name_plural = _("reward debts")
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

    debt = models.ForeignKey(RewardDebt, on_delete=models.PROTECT, related_name="recoveries", verbose_name=_("debt"))
    award = models.ForeignKey(Award, on_delete=models.PROTECT, related_name="+", verbose_name=_("award"))
    amount = models.BigIntegerField(verbose_name=_("amount"))
    transfer = models.OneToOneField(
        "wallet.Transfer", on_delete=models.PROTECT, related_name="+", verbose_name=_("transfer")
    )

    class Meta:
        verbose_name = _("debt recovery")
        verbose_name_plural = _("debt recoveries")
        constraints = [
            models.UniqueConstraint(fields=["debt", "award"], name="rewards_recovery_once_per_award"),
            models.CheckConstraint(condition=Q(amount__gt=0), name="rewards_recovery_amount_gt_0"),
        ]

    def __str__(self) -> str:
        return f"Recovery {self.amount} for debt #{self.debt_id}"


class Period(models.TextChoices):
    ALL = "all", _("All time")
    MONTH = "month", _("This month")
    WEEK = "week", _("This week")


class EarningTotal(models.Model):
    """Coins earned per user per period bucket ("all", "2025-03", "2025-W11"): the SQL leaderboard.

    Updated in the transaction that posts the award or reversal; rebuilt from the ledger by
    `manage.py rebuild_leaderboards`.
    """

    period = models.CharField(max_length=8, choices=Period.choices, verbose_name=_("period"))
    bucket = models.CharField(max_length=10, verbose_name=_("bucket"))
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+", verbose_name=_("user")
    )
    coins = models.BigIntegerField(default=0, verbose_name=_("coins"))

    class Meta:
        verbose_name = _("earning total")
        verbose_name_plural = _("earning totals")
        constraints = [
            models.UniqueConstraint(fields=["period", "bucket", "user"], name="rewards_total_unique"),
        ]
        indexes = [models.Index(fields=["period", "bucket", "-coins", "user"], name="rewards_total_rank_idx")]

    def __str__(self) -> str:
        return f"{self.period}:{self.bucket} user {self.user_id}: {self.coins}"


class LeaderboardCell(models.Model):
    """How many members of one leaderboard (period, bucket) have an earned total in one cell of
    scores: at `level` L the cell is `coins >> (8 * L)`. The SQL own rank sums a few hundred of
    these instead of counting every member above (`rewards.rank_cells`). Kept in the transaction
    that changes an `EarningTotal`; rebuilt with the totals. Only positive totals count, and
    cell 0 is never kept (no sum reads it).
    """

    period = models.CharField(max_length=8, choices=Period.choices, verbose_name=_("period"))
    bucket = models.CharField(max_length=10, verbose_name=_("bucket"))
    level = models.PositiveSmallIntegerField(verbose_name=_("level"))
    cell = models.BigIntegerField(verbose_name=_("cell"))
    members = models.BigIntegerField(default=0, verbose_name=_("members"))

    class Meta:
        verbose_name = _("leaderboard cell")
        verbose_name_plural = _("leaderboard cells")
        constraints = [
            models.UniqueConstraint(fields=["period", "bucket", "level", "cell"], name="rewards_cell_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.period}:{self.bucket} level {self.level} cell {self.cell}: {self.members}"


class LeaderboardSync(models.Model):
    """Whether the Redis sorted sets can be trusted: one row (pk=1).

    An update that cannot reach Redis sets `stale_since` and adds one to `misses`; reads then use
    the SQL aggregates (always right: written in the award's transaction) until
    `leaderboards_resync` has rewritten Redis from them. The resync clears the flag only if
    `misses` did not move meanwhile, so an update missed during a resync is never forgotten.
    """

    stale_since = models.DateTimeField(null=True, blank=True, verbose_name=_("stale since"))
    misses = models.BigIntegerField(default=0, verbose_name=_("misses"))

    class Meta:
        verbose_name = _("leaderboard sync")
        verbose_name_plural = _("leaderboard syncs")

    def __str__(self) -> str:
        return (
            f"Redis leaderboards stale since {self.stale_since}" if self.stale_since else "Redis leaderboards in sync"
        )
