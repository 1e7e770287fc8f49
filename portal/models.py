"""What happened to a member while they were away: the in-site notification centre."""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class NotificationKind(models.TextChoices):
    PAYMENT_COMPLETED = "payment_completed", _("Payment completed")
    PAYMENT_NEEDS_REVIEW = "payment_needs_review", _("Payment needs review")
    AWARD = "award", _("Reward")
    AWARD_REVERSED = "award_reversed", _("Reward reversed")
    BOUNTY_ANSWERED = "bounty_answered", _("Bounty answered")
    BOUNTY_AWARDED = "bounty_awarded", _("Bounty won")
    ADJUSTMENT = "adjustment", _("Balance adjustment")
    EA_REVIEWED = "ea_reviewed", _("EA review")
    CREDITS_EXPIRING = "credits_expiring", _("Credits expiring soon")
    CREDITS_EXPIRED = "credits_expired", _("Credits expired")


class Notification(models.Model):
    """One per member per outbox event (the unique pair makes a re-delivered event a no-op). The
    text is rendered from `kind` and `params` when shown, in the reader's language."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications", verbose_name=_("user")
    )
    kind = models.CharField(max_length=32, choices=NotificationKind.choices, verbose_name=_("kind"))
    params = models.JSONField(default=dict, blank=True, verbose_name=_("params"))
    event_id = models.BigIntegerField(help_text=_("The outbox event that caused it."), verbose_name=_("event id"))
    created_at = models.DateTimeField(verbose_name=_("created at"))
    read_at = models.DateTimeField(null=True, blank=True, verbose_name=_("read at"))

    class Meta:
        verbose_name = _("notification")
        verbose_name_plural = _("notifications")
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(fields=["user", "event_id"], name="portal_notification_once_per_event"),
        ]
        indexes = [models.Index(fields=["user", "read_at"], name="portal_notif_user_read")]

    def __str__(self) -> str:
        return f"{self.kind} for user #{self.user_id}"


class Economy(models.Model):
    """No table: it names the staff economy page in the admin (portal/economy/) and carries its
    permission, `portal.view_economy`."""

    class Meta:
        managed = False
        default_permissions = ("view",)
        verbose_name = _("economy")
        verbose_name_plural = _("economy")

    def __str__(self) -> str:
        return str(self._meta.verbose_name)


class LedgerAuditRun(models.Model):
    """The result of one ledger audit (`audit_ledger`, by hand or the daily beat task), recorded
    from its outbox event, so the economy page can say when the ledger was last checked."""

    event_id = models.BigIntegerField(unique=True, verbose_name=_("event id"))
    finished_at = models.DateTimeField(verbose_name=_("finished at"))
    problem_count = models.PositiveIntegerField(verbose_name=_("problem count"))
    vendor = models.CharField(max_length=32, verbose_name=_("database"))
    summary = models.JSONField(default=dict, blank=True, verbose_name=_("summary"))

    class Meta:
        verbose_name = _("ledger audit run")
        verbose_name_plural = _("ledger audit runs")
        ordering = ["-finished_at", "-id"]

    def __str__(self) -> str:
        return f"Audit {self.finished_at:%Y-%m-%d %H:%M} ({self.problem_count} problems)"

    @property
    def ok(self) -> bool:
        return self.problem_count == 0


class EconomyRollup(models.Model):
    """Ledger figures of one closed UTC hour for the economy page (portal/economy/rollups.py):
    credits into and out of members' accounts per transfer kind, coins per reward rule, credits
    spent on unlocks. Rebuilt from the ledger by `economy_rollup`; `reconcile` compares them."""

    hour = models.DateTimeField(verbose_name=_("hour"))
    metric = models.CharField(max_length=16, verbose_name=_("metric"))  # into, out, rule, unlock
    key = models.CharField(max_length=64, blank=True, verbose_name=_("key"))  # a kind, a rule id
    amount = models.BigIntegerField(verbose_name=_("amount"))
    count = models.BigIntegerField(verbose_name=_("count"))

    class Meta:
        verbose_name = _("economy rollup")
        verbose_name_plural = _("economy rollups")
        constraints = [
            models.UniqueConstraint(fields=["hour", "metric", "key"], name="portal_economyrollup_one_per_hour_key")
        ]

    def __str__(self) -> str:
        return f"{self.hour:%Y-%m-%d %H}:00 {self.metric} {self.key}: {self.amount}"


class EconomyRollupState(models.Model):
    """One row: the rollups hold every hour before `complete_until`; later hours are read live."""

    complete_until = models.DateTimeField(null=True, blank=True, verbose_name=_("complete until"))
    refreshed_at = models.DateTimeField(null=True, blank=True, verbose_name=_("refreshed at"))
    # The last reconciliation of the rollups against the ledger: when, and what differed.
    reconciled_at = models.DateTimeField(null=True, blank=True, verbose_name=_("reconciled at"))
    differences = models.JSONField(default=list, blank=True, verbose_name=_("differences"))
    # The member running totals hold every transfer before this mark (None: not built yet).
    members_until = models.DateTimeField(null=True, blank=True, verbose_name=_("members complete until"))

    class Meta:
        verbose_name = _("economy rollup state")
        verbose_name_plural = _("economy rollup states")

    def __str__(self) -> str:
        return f"Rollups complete until {self.complete_until}"


class MemberRunningTotal(models.Model):
    """A member account's running totals, for the economy page's top earners and spenders
    (portal/economy/members.py): credits earned and spent before `at`. `at` is a UTC month start
    (closed months), or members.OPEN for the totals before the refresh mark
    (EconomyRollupState.members_until: the open month, updated by every refresh)."""

    at = models.DateTimeField(verbose_name=_("as of"))
    account = models.ForeignKey("wallet.Account", on_delete=models.CASCADE, related_name="+", verbose_name=_("account"))
    earned = models.BigIntegerField(verbose_name=_("earned"))
    spent = models.BigIntegerField(verbose_name=_("spent"))

    class Meta:
        verbose_name = _("member running total")
        verbose_name_plural = _("member running totals")
        constraints = [
            models.UniqueConstraint(fields=["at", "account"], name="portal_memberrunningtotal_one_per_account")
        ]

    def __str__(self) -> str:
        return f"{self.account_id} before {self.at:%Y-%m-%d %H}:00: earned {self.earned}, spent {self.spent}"
