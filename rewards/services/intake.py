"""Activity intake: forum events in (signed API, Goldbook itself, imports), stored once per
(source, event_id), applied when their member is known or kept pending until they appear.
Integrations (the forums allowed to post events) are created here too."""

import logging
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from allauth.account.models import EmailAddress
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone

from accounts.models import User
from core.events import Event, record

from ..errors import EventConflict, InvalidEvent
from ..models import ActivityEvent, Bounty, BountyStatus, EventStatus, EventType, Integration, MemberLink
from ._shared import clean_identity, lock_profile
from .awards import apply_event

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class RecordResult:
    event: ActivityEvent
    created: bool  # False: a replay of an event already stored; nothing changed


def _validate(*, event_type: str, event_id: str, object_type: str, object_id: str, data: dict[str, Any]) -> None:
    if event_type not in EventType.values:
        raise InvalidEvent(f"Unknown event type {event_type!r}.")
    if not event_id or len(event_id) > 128:
        raise InvalidEvent("event_id must be 1 to 128 characters.")
    if not object_type or len(object_type) > 32 or not object_id or len(object_id) > 128:
        raise InvalidEvent("object.type (≤32) and object.id (≤128) are required.")
    if event_type in (EventType.POST_UPVOTED, EventType.POST_UNVOTED) and not clean_identity(data.get("voter")):
        raise InvalidEvent(f"{event_type} needs data.voter with an email or external_id.")


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
    data = dict(data or {})
    object_id = str(object_id)
    _validate(event_type=type, event_id=event_id, object_type=object_type, object_id=object_id, data=data)
    kind = EventType(type)
    stamped = occurred_at is not None
    occurred_at = occurred_at or timezone.now()
    if timezone.is_naive(occurred_at):
        occurred_at = occurred_at.replace(tzinfo=UTC)
    email = (user_email or "").strip().lower()[:254]
    external = (str(user_external_id) if user_external_id else "").strip()[:128]
    if not (email or external or user_id):
        raise InvalidEvent("user needs an email or an external_id.")
    with transaction.atomic():
        incoming = ActivityEvent(
            source=source,
            event_id=event_id,
            type=kind,
            occurred_at=occurred_at,
            user_email=email,
            user_external_id=external,
            object_type=object_type,
            object_id=object_id,
            data=data,
        )
        event, created = _insert_once(incoming)
        if not created:
            _check_same(event, incoming, stamped=stamped)
            return RecordResult(event=event, created=False)
        if kind == EventType.ANSWER_POSTED:
            _count_bounty_answer(data)
        user = _resolve_user(source=source, email=email, external_id=external, user_id=user_id)
        if user is not None:
            ActivityEvent.objects.filter(pk=event.pk).update(user=user)
            _apply_pending_for(user)
            event.refresh_from_db()
    return RecordResult(event=event, created=True)


def _insert_once(event: ActivityEvent) -> tuple[ActivityEvent, bool]:
    """Insert the event, or return the one already stored under its (source, event_id)."""
    try:
        with transaction.atomic():
            event.save(force_insert=True)
        return event, True
    except IntegrityError:
        existing = ActivityEvent.objects.filter(source=event.source, event_id=event.event_id).first()
        if existing is None:
            raise
        return existing, False


_SAME_FIELDS = ("type", "user_email", "user_external_id", "object_type", "object_id", "data")


def _check_same(stored: ActivityEvent, incoming: ActivityEvent, *, stamped: bool) -> None:
    """A replay must carry what was stored under its event_id: another body reusing the id is a
    conflict (409), never a silent 200. `occurred_at` is compared only when the sender gave it
    (otherwise both copies were stamped with our clock at arrival)."""
    fields = _SAME_FIELDS + (("occurred_at",) if stamped else ())
    if any(getattr(stored, f) != getattr(incoming, f) for f in fields):
        logger.warning("Event %s:%s: replayed with different content", stored.source, stored.event_id)
        raise EventConflict()


def _count_bounty_answer(data: dict[str, Any]) -> None:
    """An answer on a thread with open bounties: they can no longer be cancelled. Counted when
    the event arrives, whether or not the answerer has a Goldbook account yet."""
    thread_ref = data.get("thread_ref")
    if isinstance(thread_ref, str | int) and not isinstance(thread_ref, bool) and str(thread_ref):
        open_bounties = Bounty.objects.filter(thread_ref=str(thread_ref)[:200], status=BountyStatus.OPEN)
        answered = list(open_bounties.values_list("pk", "offerer_id"))
        open_bounties.update(answer_count=F("answer_count") + 1)
        if answered:
            record(
                Event.BOUNTY_ANSWERED,
                {"bounty_ids": [pk for pk, _ in answered], "offerer_ids": [offerer for _, offerer in answered]},
            )


def _verified_user(email: str) -> User | None:
    """The member who has verified this address (allauth's EmailAddress.verified), if any. An
    address someone merely registered proves nothing: they could have typed a forum member's."""
    if not email:
        return None
    address = EmailAddress.objects.filter(email__iexact=email, verified=True).select_related("user").first()
    return address.user if address is not None else None


def _resolve_user(*, source: str, email: str, external_id: str, user_id: int | None) -> User | None:
    if user_id is not None:
        return User.objects.filter(pk=user_id).first()
    user = _verified_user(email)
    if external_id:
        integration = Integration.objects.filter(name=source).first()
        if integration is not None:
            link = (
                MemberLink.objects.filter(integration=integration, external_id=external_id)
                .select_related("user")
                .first()
            )
            if link is not None and user is None:
                user = link.user
            elif link is None and user is not None:
                try:  # only ever to a verified address (`_verified_user`)
                    with transaction.atomic():
                        MemberLink.objects.create(integration=integration, external_id=external_id, user=user)
                except IntegrityError:
                    pass  # linked concurrently by another event: first link wins
    return user


def _pending_for_user(user: User) -> "Q":
    verified = [
        e.lower() for e in EmailAddress.objects.filter(user=user, verified=True).values_list("email", flat=True)
    ]
    cond = Q(user_email__in=verified) | Q(user=user)
    for source, external_id in MemberLink.objects.filter(user=user).values_list("integration__name", "external_id"):
        cond |= Q(source=source, user_external_id=external_id)
    return cond


def _apply_pending_for(user: User) -> int:
    ids = list(
        ActivityEvent.objects.filter(status=EventStatus.PENDING)
        .filter(_pending_for_user(user))
        .order_by("occurred_at", "pk")
        .values_list("pk", flat=True)
    )
    for event_id in ids:
        _apply_one(event_id=event_id, user=user)
    return len(ids)


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
        return _apply_pending_for(user)


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


def _apply_one(*, event_id: int, user: User) -> None:
    """Apply one pending event in a savepoint; on an unexpected error keep it as failed."""
    try:
        with transaction.atomic():
            profile = lock_profile(user.pk)
            event = ActivityEvent.objects.select_for_update(no_key=True).get(pk=event_id)
            if event.status != EventStatus.PENDING:
                return
            notes = apply_event(event=event, user=user, profile=profile)
            event.user = user
            event.status = EventStatus.APPLIED
            event.applied_at = timezone.now()
            event.note = "; ".join(notes)[:255]
            event.save(update_fields=["user", "status", "applied_at", "note"])
    except Exception as exc:  # stored as failed, never lost: staff can re-apply from the admin
        logger.exception("Event #%s: applying failed", event_id)
        ActivityEvent.objects.filter(pk=event_id, status=EventStatus.PENDING).update(
            user=user, status=EventStatus.FAILED, note=f"{type(exc).__name__}: {exc}"[:255]
        )


def event_retry(*, event_id: int) -> ActivityEvent:
    """Put a failed event back to pending and apply it again (admin action)."""
    with transaction.atomic():
        ActivityEvent.objects.filter(pk=event_id, status=EventStatus.FAILED).update(status=EventStatus.PENDING, note="")
        event = ActivityEvent.objects.get(pk=event_id)
        user = event.user or _resolve_user(
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
