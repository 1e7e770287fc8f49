"""The transactional outbox: one row per domain event, written in the transaction that made it
true, and one row per handler that has run it (so a re-delivery skips handlers that succeeded)."""

from django.db import models


class OutboxEvent(models.Model):
    name = models.CharField(max_length=64)
    payload = models.JSONField(default=dict)
    created_at = models.DateTimeField(auto_now_add=True)
    # Every handler has run it. Undelivered rows are what the sweep looks for.
    delivered_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    # Not before: backoff after a failed attempt, or another worker's lease while it delivers.
    available_at = models.DateTimeField()
    last_error = models.TextField(blank=True)

    class Meta:
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

    event = models.ForeignKey(OutboxEvent, on_delete=models.CASCADE, related_name="deliveries")
    handler = models.CharField(max_length=200)
    delivered_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["event", "handler"], name="core_outbox_delivery_once")]

    def __str__(self) -> str:
        return f"{self.handler} ran {self.event_id}"
