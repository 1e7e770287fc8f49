"""The transactional outbox: one row per domain event, written in the transaction that made it
true, and one row per handler that has run it (so a re-delivery skips handlers that succeeded)."""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class OutboxEvent(models.Model):
    name = models.CharField(max_length=64, verbose_name=_("name"))
    payload = models.JSONField(default=dict, verbose_name=_("payload"))
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))
    # Every handler has run it. Undelivered rows are what the sweep looks for.
    delivered_at = models.DateTimeField(null=True, blank=True, verbose_name=_("delivered at"))
    attempts = models.PositiveIntegerField(default=0, verbose_name=_("attempts"))
    # Not before: backoff after a failed attempt, or another worker's lease while it delivers.
    available_at = models.DateTimeField(verbose_name=_("available at"))
    last_error = models.TextField(blank=True, verbose_name=_("last error"))

    class Meta:
        verbose_name = _("outbox event")
        verbose_name_plural = _("outbox events")
        indexes = [
            models.Index(
                fields=["available_at"], name="core_outbox_pending", condition=models.Q(delivered_at__isnull=True)
            ),
            models.Index(fields=["delivered_at"], name="core_outbox_delivered"),
        ]

    def __str__(self) -> str:
        return f"{self.name} #{self.pk}"


class OutboxDelivery(models.Model):
    """Handler `handler` has run event `event` to completion."""

    event = models.ForeignKey(OutboxEvent, on_delete=models.CASCADE, related_name="deliveries", verbose_name=_("event"))
    handler = models.CharField(max_length=200, verbose_name=_("handler"))
    delivered_at = models.DateTimeField(auto_now_add=True, verbose_name=_("delivered at"))

    class Meta:
        verbose_name = _("outbox delivery")
        verbose_name_plural = _("outbox deliveries")
        constraints = [models.UniqueConstraint(fields=["event", "handler"], name="core_outbox_delivery_once")]

    def __str__(self) -> str:
        return f"{self.handler} ran {self.event_id}"


class ConfigChangeStatus(models.TextChoices):
    REQUESTED = "requested", _("Awaiting approval")
    APPROVED = "approved", _("Approved and applied")
    REJECTED = "rejected", _("Rejected")


class ConfigChange(models.Model):
    """A staff edit to a setting that creates money (an earning rule, a booster, a credit package
    worth more than its price, a bonus tier), held until a second staff member approves it
    (core.config_changes). `values` are the proposed field values as the model's fields serialise
    them; `before` the same fields as they were when it was proposed (empty for a new object)."""

    model = models.CharField(max_length=100, help_text=_("app_label.ModelName"), verbose_name=_("model"))
    object_id = models.BigIntegerField(
        null=True, blank=True, help_text=_("Blank: the change creates a new row."), verbose_name=_("object id")
    )
    summary = models.CharField(max_length=255, verbose_name=_("summary"))
    values = models.JSONField(default=dict, verbose_name=_("values"))
    before = models.JSONField(default=dict, verbose_name=_("before"))
    status = models.CharField(
        max_length=16,
        choices=ConfigChangeStatus.choices,
        default=ConfigChangeStatus.REQUESTED,
        verbose_name=_("status"),
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", verbose_name=_("requested by")
    )
    requested_at = models.DateTimeField(auto_now_add=True, verbose_name=_("requested at"))
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        null=True,
        blank=True,
        verbose_name=_("decided by"),
    )
    decided_at = models.DateTimeField(null=True, blank=True, verbose_name=_("decided at"))
    decision_note = models.CharField(max_length=255, blank=True, verbose_name=_("decision note"))
    applied_object_id = models.BigIntegerField(null=True, blank=True, verbose_name=_("applied object id"))

    class Meta:
        verbose_name = _("config change")
        verbose_name_plural = _("config changes")
        ordering = ["-requested_at"]
        permissions = [("approve_configchange", "Can approve changes that create money")]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(decided_by__isnull=True) | ~models.Q(decided_by=models.F("requested_by")),
                name="core_configchange_four_eyes",
            ),
            models.CheckConstraint(
                condition=models.Q(status="requested") | models.Q(decided_by__isnull=False),
                name="core_configchange_decided_by",
            ),
        ]

    def __str__(self) -> str:
        return f"Change #{self.pk}: {self.summary}"
