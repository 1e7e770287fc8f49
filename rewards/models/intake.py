"""Activity intake: the forums allowed to post events, the events themselves, and what intake
remembers about forum objects (distinct voters, deletions)."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from simple_history.models import HistoricalRecords


class Integration(models.Model):
    """A forum (Discuz!, Discourse, ...) allowed to post signed activity events.

    The secret is stored as given: verifying an HMAC needs the key itself, not a digest of it.
    """

    name = models.SlugField(max_length=64, unique=True)
    secret = models.CharField(max_length=128)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    # The secret itself is never copied into the history: a rotation shows only as a change.
    history = HistoricalRecords(excluded_fields=["secret"])

    def __str__(self) -> str:
        return self.name


class MemberLink(models.Model):
    """A forum's own user id for a Goldbook user (learnt from events carrying both)."""

    integration = models.ForeignKey(Integration, on_delete=models.CASCADE, related_name="member_links")
    external_id = models.CharField(max_length=128)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    history = HistoricalRecords()

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
            models.Index(
                fields=["user_email"], condition=Q(status=EventStatus.PENDING), name="rewards_event_pending_email"
            ),
            models.Index(
                fields=["source", "user_external_id"],
                condition=Q(status=EventStatus.PENDING),
                name="rewards_event_pending_ext",
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
