"""Activity intake: forum events in (signed API, Goldbook itself, imports), stored once per
(source, event_id), applied when their member is known or kept pending until they appear.
Integrations (the forums allowed to post events) are created here too."""

import logging
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from allauth.account.models import EmailAddress
from django.db import transaction

from accounts.models import User

from ..models import ActivityEvent, EventStatus, Integration, MemberLink
from .applying import _apply_one, apply_pending
from .intake_batch import EventSpec, Outcome, events_record, resolve_member

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class RecordResult:
    event: ActivityEvent
    created: bool  # False: a replay of an event already stored; nothing changed


def activity_record(
    *,
    source: str,
    event_id: str,
    type: str,  # noqa: A002 - the field's name in the event contract
    object_type: str,
    object_id: str,
    occurred_at: datetime | None = None,
    user_email: str = "",
    user_external_id: str = "",
    user_id: int | None = None,
    data: dict[str, Any] | None = None,
) -> RecordResult:
    """Store one activity event and apply it if its user is known.

    Steps: validate; insert the event (unique per source and event_id: a replay returns the
    stored event with `created=False` and changes nothing, or raises EventConflict when the
    replay's content differs from what is stored); resolve the user by id, email, or the
    integration's external id (learning the external id when the event carries both); apply this
    user's pending events, oldest first, this one included. Events for unknown users stay
    pending until `pending_events_apply` finds their user.

    Raises InvalidEvent, EventConflict. Never raises for a failure while applying: the event is stored as
    `failed` with a note for staff to look at.
    """
    spec = EventSpec(
        event_id=event_id,
        type=type,
        object_type=object_type,
        object_id=str(object_id),
        occurred_at=occurred_at,
        user_email=user_email,
        user_external_id=user_external_id,
        user_id=user_id,
        data=dict(data or {}),
    )
    item = events_record(source=source, events=[spec])[0]
    if item.error is not None:
        raise item.error
    assert item.event is not None
    return RecordResult(event=item.event, created=item.outcome == Outcome.ACCEPTED)


def pending_events_apply(*, user_id: int) -> int:
    """Apply the stored events that belong to this user (by a verified email or a known external id).

    Called when a member joins (`rewards.handlers.member_joined`, on Event.MEMBER_JOINED), when
    they verify an address (allauth's `email_confirmed`, `rewards.handlers.email_confirmed`) and
    by the periodic sweep. Idempotent: an applied event is not pending any more. Returns how many
    events were applied.
    """
    user = User.objects.filter(pk=user_id).first()
    if user is None:
        return 0
    with transaction.atomic():
        return apply_pending([user])


def pending_events_sweep(*, limit: int = 1000) -> int:
    """Periodic safety net: apply pending events whose email or external id now has a user."""
    emails = set(
        ActivityEvent.objects.filter(status=EventStatus.PENDING)
        .exclude(user_email="")
        .values_list("user_email", flat=True)
        .distinct()[:limit]
    )
    user_ids = set(EmailAddress.objects.filter(email__in=emails, verified=True).values_list("user_id", flat=True))
    for source, external_id in (
        ActivityEvent.objects.filter(status=EventStatus.PENDING)
        .exclude(user_external_id="")
        .values_list("source", "user_external_id")
        .distinct()[:limit]
    ):
        link = MemberLink.objects.filter(integration__name=source, external_id=external_id).first()
        if link is not None:
            user_ids.add(link.user_id)
    applied = 0
    for user_id in sorted(user_ids):
        applied += pending_events_apply(user_id=user_id)
    return applied


def event_retry(*, event_id: int) -> ActivityEvent:
    """Put a failed event back to pending and apply it again (admin action)."""
    with transaction.atomic():
        ActivityEvent.objects.filter(pk=event_id, status=EventStatus.FAILED).update(status=EventStatus.PENDING, note="")
        event = ActivityEvent.objects.get(pk=event_id)
        user = event.user or resolve_member(
            source=event.source, email=event.user_email, external_id=event.user_external_id, user_id=None
        )
        if user is not None and event.status == EventStatus.PENDING:
            _apply_one(event_id=event.pk, user=user)
    event.refresh_from_db()
    return event


# --- integrations -----------------------------------------------------------------------------


def integration_create(*, name: str) -> tuple[Integration, str]:
    """Create an integration and return it with its new secret (shown once to the operator)."""
    secret = secrets.token_hex(32)
    with transaction.atomic():
        integration = Integration.objects.create(name=name, secret=secret)
    return integration, secret


def integration_rotate(*, name: str) -> tuple[Integration, str]:
    secret = secrets.token_hex(32)
    integration = Integration.objects.get(name=name)
    integration.secret = secret
    integration.save(update_fields=["secret"])
    return integration, secret
