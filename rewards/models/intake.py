"""Activity intake: the forums allowed to post events, the events themselves, and what intake
remembers about forum objects (distinct voters, deletions)."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords


class Integration(models.Model):
    """A forum (Discuz!, Discourse, ...) allowed to post signed activity events.

    The secret is stored as given: verifying an HMAC needs the key itself, not a digest of it.
    """

    name = models.SlugField(max_length=64, unique=True, verbose_name=_("name"))
    secret = models.CharField(max_length=128, verbose_name=_("secret"))
    is_active = models.BooleanField(default=True, verbose_name=_("is active"))
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))
    # The secret itself is never copied into the history: a rotation shows only as a change.
    history = HistoricalRecords(excluded_fields=["secret"])

    class Meta:
        verbose_name = _("integration")
        verbose_name_plural = _("integrations")

    def __str__(self) -> str:
        return self.name


class MemberLink(models.Model):
    """A forum's own user id for a Goldbook user (learnt from events carrying both)."""

    integration = models.ForeignKey(
        Integration, on_delete=models.CASCADE, related_name="member_links", verbose_name=_("integration")
    )
    external_id = models.CharField(max_length=128, verbose_name=_("external id"))
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+", verbose_name=_("user")
    )
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))
    history = HistoricalRecords()

    class Meta:
        verbose_name = _("member link")
        verbose_name_plural = _("member links")
        constraints = [
            models.UniqueConstraint(fields=["integration", "external_id"], name="rewards_memberlink_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.integration}:{self.external_id} → {self.user_id}"


class EventType(models.TextChoices):
    POST_UPVOTED = "post.upvoted", _("Post upvoted")
    POST_UNVOTED = "post.unvoted", _("Post vote withdrawn")
    POST_DELETED = "post.deleted", _("Post deleted")
    ANSWER_POSTED = "answer.posted", _("Answer posted")
    ANSWER_ACCEPTED = "answer.accepted", _("Answer accepted")
    ANSWER_UNACCEPTED = "answer.unaccepted", _("Answer unaccepted")
    EA_VERIFIED = "ea.verified", _("EA verified")
    REFERRAL_CONVERTED = "referral.converted", _("Referral converted")


class EventStatus(models.TextChoices):
    PENDING = "pending", _("Waiting for the user to appear")
    APPLIED = "applied", _("Applied")
    FAILED = "failed", _("Failed (see note)")


class ActivityEvent(models.Model):
    """One forum event, stored once per (source, event_id): a replay is a no-op."""

    # The integration's name, or "goldbook" for events Goldbook raises itself.
    source = models.CharField(max_length=64, verbose_name=_("source"))
    event_id = models.CharField(max_length=128, verbose_name=_("event id"))
    type = models.CharField(max_length=32, choices=EventType.choices, verbose_name=_("type"))
    occurred_at = models.DateTimeField(verbose_name=_("occurred at"))
    received_at = models.DateTimeField(auto_now_add=True, verbose_name=_("received at"))
    user_email = models.CharField(max_length=254, blank=True, verbose_name=_("user email"))
    user_external_id = models.CharField(max_length=128, blank=True, verbose_name=_("user external id"))
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("user"),
    )
    object_type = models.CharField(max_length=32, verbose_name=_("object type"))
    object_id = models.CharField(max_length=128, verbose_name=_("object id"))
    data = models.JSONField(default=dict, blank=True, verbose_name=_("data"))
    status = models.CharField(
        max_length=16, choices=EventStatus.choices, default=EventStatus.PENDING, verbose_name=_("status")
    )
    applied_at = models.DateTimeField(null=True, blank=True, verbose_name=_("applied at"))
    note = models.CharField(max_length=255, blank=True, verbose_name=_("note"))

    class Meta:
        verbose_name = _("activity event")
        verbose_name_plural = _("activity events")
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

    object_key = models.CharField(max_length=240, verbose_name=_("object key"))
    voter_key = models.CharField(max_length=200, verbose_name=_("voter key"))
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))

    class Meta:
        verbose_name = _("object vote")
        verbose_name_plural = _("object votes")
        constraints = [models.UniqueConstraint(fields=["object_key", "voter_key"], name="rewards_vote_unique")]

    def __str__(self) -> str:
        return f"{self.voter_key} on {self.object_key}"


class DeletedObject(models.Model):
    """A forum object reported deleted: it earns nothing any more."""

    object_key = models.CharField(max_length=240, unique=True, verbose_name=_("object key"))
    deleted_at = models.DateTimeField(auto_now_add=True, verbose_name=_("deleted at"))

    class Meta:
        verbose_name = _("deleted object")
        verbose_name_plural = _("deleted objects")

    def __str__(self) -> str:
        return self.object_key
