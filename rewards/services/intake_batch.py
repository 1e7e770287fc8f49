"""Recording activity events in runs: the one path every event takes, one at a time
(`activity_record`) or up to `BATCH_MAX` per call (`events_record`: the batch API, imports).

A run costs a fixed handful of queries (look up the stored ids, resolve members, one INSERT …
ON CONFLICT DO NOTHING, apply) plus what each award writes, instead of ~25 queries per event.
Each event gets its own outcome: accepted (stored; applied, pending or failed), a duplicate
(its event_id was stored already with the same content: nothing changes) or rejected (invalid,
or its event_id reused with other content), and one rejected event never holds the others up."""

import enum
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, cast

from allauth.account.models import EmailAddress
from django.db import IntegrityError, connection, transaction
from django.db.models import Field
from django.db.models.functions import Lower
from django.utils import timezone

from accounts.models import User

from ..errors import EventConflict, InvalidEvent, RewardsError
from ..models import ActivityEvent, EventType, Integration, MemberLink
from ._cache import AwardCache
from .applying import apply_pending
from .intake_checks import check_same, count_bounty_answer, validate

logger = logging.getLogger(__name__)

BATCH_MAX = 500


@dataclass(frozen=True)
class EventSpec:
    """One event as a forum describes it (the API's and the import's shape, flattened)."""

    event_id: str
    type: str
    object_type: str
    object_id: str
    occurred_at: datetime | None = None
    user_email: str = ""
    user_external_id: str = ""
    user_id: int | None = None
    data: dict[str, Any] = field(default_factory=dict)


class Outcome(enum.StrEnum):
    ACCEPTED = "accepted"
    DUPLICATE = "duplicate"
    REJECTED = "rejected"


@dataclass
class BatchItem:
    index: int
    event_id: str
    outcome: Outcome
    event: ActivityEvent | None = None  # the stored event (accepted or duplicate)
    error: RewardsError | None = None  # why it was rejected


@dataclass
class _Incoming:
    index: int
    event: ActivityEvent
    stamped: bool  # the sender gave occurred_at (compared on a replay)
    user_id: int | None


def _prepare(source: str, spec: EventSpec, index: int, now: datetime) -> _Incoming:
    data = dict(spec.data or {})
    object_id = str(spec.object_id)
    validate(event_type=spec.type, event_id=spec.event_id, object_type=spec.object_type, object_id=object_id, data=data)
    occurred_at = spec.occurred_at or now
    if timezone.is_naive(occurred_at):
        occurred_at = occurred_at.replace(tzinfo=UTC)
    email = (spec.user_email or "").strip().lower()[:254]
    external = (str(spec.user_external_id) if spec.user_external_id else "").strip()[:128]
    if not (email or external or spec.user_id):
        raise InvalidEvent("user needs an email or an external_id.")
    event = ActivityEvent(
        source=source,
        event_id=spec.event_id,
        type=EventType(spec.type),
        occurred_at=occurred_at,
        received_at=now,
        user_email=email,
        user_external_id=external,
        object_type=spec.object_type,
        object_id=object_id,
        data=data,
    )
    return _Incoming(index=index, event=event, stamped=spec.occurred_at is not None, user_id=spec.user_id)


def events_record(*, source: str, events: Sequence[EventSpec]) -> list[BatchItem]:
    """Store and apply up to BATCH_MAX events from `source`, in one transaction; one outcome
    per event, in order. Replay-safe: an event_id stored before (or earlier in the same run)
    is a duplicate and changes nothing. Members' pending events are applied oldest first."""
    if len(events) > BATCH_MAX:
        raise InvalidEvent(f"At most {BATCH_MAX} events per batch.")
    now = timezone.now()
    items: dict[int, BatchItem] = {}
    first: dict[str, _Incoming] = {}
    repeats: list[_Incoming] = []
    for index, spec in enumerate(events):
        try:
            incoming = _prepare(source, spec, index, now)
        except InvalidEvent as exc:
            items[index] = BatchItem(index, spec.event_id, Outcome.REJECTED, error=exc)
            continue
        if spec.event_id in first:
            repeats.append(incoming)
        else:
            first[spec.event_id] = incoming
    with transaction.atomic():
        stored = _stored(source, list(first)) if first else {}
        new = [incoming for event_id, incoming in first.items() if event_id not in stored]
        _resolve_members(source, new)
        inserted = _insert(new)
        raced = [inc.event.event_id for inc in new if inc.event.event_id not in inserted]
        stored.update(_stored(source, raced) if raced else {})
        for event_id, incoming in first.items():
            items[incoming.index] = _outcome(incoming, stored.get(event_id), inserted.get(event_id))
        for incoming in new:
            if incoming.event.pk is not None and incoming.event.type == EventType.ANSWER_POSTED:
                count_bounty_answer(incoming.event.data)
        members = {inc.event.user_id: inc.event.user for inc in new if inc.event.pk and inc.event.user}
        final: dict[int, ActivityEvent] = {}
        if members:
            apply_pending([u for u in members.values() if u is not None], AwardCache(), applied=final)
        # The events the run did not hand back (redone one by one) are read again; the others
        # stayed as inserted (pending: no member yet).
        reread = [inc.event.pk for inc in new if inc.event.pk and inc.event.user and inc.event.pk not in final]
        final.update(ActivityEvent.objects.in_bulk(reread) if reread else {})
    for item in items.values():
        if item.outcome == Outcome.ACCEPTED and item.event is not None:
            item.event = final.get(item.event.pk, item.event)
    for incoming in repeats:
        items[incoming.index] = _repeat(incoming, first[incoming.event.event_id], items)
    return [items[i] for i in range(len(events))]


def _stored(source: str, event_ids: list[str]) -> dict[str, ActivityEvent]:
    return {e.event_id: e for e in ActivityEvent.objects.filter(source=source, event_id__in=event_ids)}


def _outcome(incoming: _Incoming, stored: ActivityEvent | None, pk: int | None) -> BatchItem:
    index, event_id = incoming.index, incoming.event.event_id
    if pk is not None:
        incoming.event.pk = pk
        return BatchItem(index, event_id, Outcome.ACCEPTED, event=incoming.event)
    if stored is None:  # neither inserted nor found: cannot happen while the unique constraint holds
        raise IntegrityError(f"Event {event_id!r} was neither stored nor found.")
    try:
        check_same(stored, incoming.event, stamped=incoming.stamped)
    except EventConflict as exc:
        return BatchItem(index, event_id, Outcome.REJECTED, error=exc)
    return BatchItem(index, event_id, Outcome.DUPLICATE, event=stored)


def _repeat(incoming: _Incoming, first: _Incoming, items: dict[int, BatchItem]) -> BatchItem:
    """An event_id a second time in the same run: the first one's duplicate, or a conflict."""
    earlier = items[first.index]
    index, event_id = incoming.index, incoming.event.event_id
    try:
        check_same(first.event, incoming.event, stamped=incoming.stamped and first.stamped)
    except EventConflict as exc:
        return BatchItem(index, event_id, Outcome.REJECTED, error=exc)
    if earlier.outcome == Outcome.REJECTED:
        return BatchItem(index, event_id, Outcome.REJECTED, error=earlier.error)
    return BatchItem(index, event_id, Outcome.DUPLICATE, event=earlier.event)


def _resolve_members(source: str, new: list[_Incoming]) -> None:
    """Set each new event's member: by user id, else a verified email's owner (allauth's
    EmailAddress.verified: an address merely registered proves nothing) or the integration's
    external id. An event carrying both a verified email and an unknown external id teaches
    the link (first link wins), which later events of the same run already use."""
    ids = {inc.user_id for inc in new if inc.user_id is not None}
    by_id = User.objects.in_bulk(list(ids)) if ids else {}
    emails = {inc.event.user_email for inc in new if inc.user_id is None and inc.event.user_email}
    by_email: dict[str, User] = {}
    if emails:
        verified = EmailAddress.objects.annotate(low=Lower("email")).filter(low__in=emails, verified=True)
        for address in verified.select_related("user").order_by("pk"):
            by_email.setdefault(address.email.lower(), address.user)
    exts = {inc.event.user_external_id for inc in new if inc.user_id is None and inc.event.user_external_id}
    integration = Integration.objects.filter(name=source).first() if exts else None
    links: dict[str, User] = {}
    if integration is not None:
        found = MemberLink.objects.filter(integration=integration, external_id__in=exts).select_related("user")
        links = {link.external_id: link.user for link in found}
    for inc in new:
        if inc.user_id is not None:
            inc.event.user = by_id.get(inc.user_id)
            continue
        user = by_email.get(inc.event.user_email)
        external = inc.event.user_external_id
        if external and integration is not None:
            if external in links and user is None:
                user = links[external]
            elif external not in links and user is not None:
                links[external] = _link(integration, external, user)
        inc.event.user = user


def resolve_member(*, source: str, email: str, external_id: str, user_id: int | None) -> User | None:
    """The member a stored event belongs to (`_resolve_members` for one event)."""
    probe = ActivityEvent(source=source, user_email=email, user_external_id=external_id)
    incoming = _Incoming(index=0, event=probe, stamped=False, user_id=user_id)
    _resolve_members(source, [incoming])
    return incoming.event.user


def _link(integration: Integration, external_id: str, user: User) -> User:
    try:  # only ever to a verified address (`_resolve_members`)
        with transaction.atomic():
            MemberLink.objects.create(integration=integration, external_id=external_id, user=user)
    except IntegrityError:  # linked concurrently by another event: first link wins
        link = MemberLink.objects.filter(integration=integration, external_id=external_id).first()
        return link.user if link is not None else user
    return user


_COLUMNS: tuple[str, ...] = ("source", "event_id", "type", "occurred_at", "received_at", "user_email")
_COLUMNS += ("user_external_id", "user", "object_type", "object_id", "data", "status", "applied_at", "note")


def _insert(new: list[_Incoming]) -> dict[str, int]:
    """INSERT the new events in one statement; the ones whose (source, event_id) arrived
    meanwhile are skipped (ON CONFLICT DO NOTHING). Returns event_id: pk of those inserted."""
    if not new:
        return {}
    fields = [cast("Field[Any, Any]", ActivityEvent._meta.get_field(name)) for name in _COLUMNS]
    quote = connection.ops.quote_name
    columns = ", ".join(quote(str(f.column)) for f in fields)
    row = "(" + ", ".join(["%s"] * len(fields)) + ")"
    params: list[Any] = []
    for inc in new:
        params += [f.get_db_prep_save(getattr(inc.event, f.attname), connection) for f in fields]
    sql = (
        f"INSERT INTO {quote(ActivityEvent._meta.db_table)} ({columns}) VALUES {', '.join([row] * len(new))} "  # noqa: S608 - quoted names, %s only
        f"ON CONFLICT ({quote('source')}, {quote('event_id')}) DO NOTHING RETURNING {quote('id')}, {quote('event_id')}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return {event_id: pk for pk, event_id in cursor.fetchall()}
