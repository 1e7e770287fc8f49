"""The checks every recorded event goes through: its shape (`validate`), a replay's content
against what is stored (`check_same`), and the bounty answer count an answer bumps on arrival
(`count_bounty_answer`). Package-private to `rewards.services`."""

import logging
from typing import Any

from django.db.models import F

from core.events import Event, record

from ..errors import EventConflict, InvalidEvent
from ..models import ActivityEvent, Bounty, BountyStatus, EventType
from ._shared import clean_identity

logger = logging.getLogger(__name__)


def validate(*, event_type: str, event_id: str, object_type: str, object_id: str, data: dict[str, Any]) -> None:
    if event_type not in EventType.values:
        raise InvalidEvent(f"Unknown event type {event_type!r}.")
    if not event_id or len(event_id) > 128:
        raise InvalidEvent("event_id must be 1 to 128 characters.")
    if not object_type or len(object_type) > 32 or not object_id or len(object_id) > 128:
        raise InvalidEvent("object.type (≤32) and object.id (≤128) are required.")
    if event_type in (EventType.POST_UPVOTED, EventType.POST_UNVOTED) and not clean_identity(data.get("voter")):
        raise InvalidEvent(f"{event_type} needs data.voter with an email or external_id.")


_SAME_FIELDS = ("type", "user_email", "user_external_id", "object_type", "object_id", "data")


def check_same(stored: ActivityEvent, incoming: ActivityEvent, *, stamped: bool) -> None:
    """A replay must carry what was stored under its event_id: another body reusing the id is a
    conflict (409), never a silent 200. `occurred_at` is compared only when the sender gave it
    (otherwise both copies were stamped with our clock at arrival)."""
    fields = _SAME_FIELDS + (("occurred_at",) if stamped else ())
    if any(getattr(stored, f) != getattr(incoming, f) for f in fields):
        logger.warning("Event %s:%s: replayed with different content", stored.source, stored.event_id)
        raise EventConflict()


def count_bounty_answer(data: dict[str, Any]) -> None:
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
